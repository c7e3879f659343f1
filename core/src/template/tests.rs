//! The template language's specification, as tables of template, context and expected result.

use proptest::prelude::*;
use serde_json::{json, Value};

use super::*;

/// What rendering a template must give.
#[derive(Debug)]
enum Want {
    /// Exactly this JSON value (so `3998` is not `3998.0`).
    Is(Value),
    /// A number within 1e-9 of this.
    About(f64),
    /// An error at this byte offset whose message contains this text.
    Fails(usize, &'static str),
}

use Want::{About, Fails, Is};

fn check(context: &Value, source: &str, want: Want) {
    let result = Template::parse(source).and_then(|template| template.render(context));
    match (want, result) {
        (Is(expected), Ok(actual)) => assert_eq!(actual, expected, "template {source:?}"),
        (About(expected), Ok(Value::Number(actual))) => {
            let actual = actual.as_f64().expect("a number");
            let close = (actual - expected).abs() < 1e-9;
            assert!(close, "template {source:?}: {actual} is not {expected}");
        }
        (Fails(position, fragment), Err(error)) => {
            let place = format!("template {source:?}: {error}");
            assert_eq!(error.position, position, "{place}");
            assert!(
                error.message.contains(fragment),
                "{place}: lacks {fragment:?}"
            );
        }
        (want, result) => panic!("template {source:?}: wanted {want:?}, got {result:?}"),
    }
}

fn context() -> Value {
    json!({
        "input": {
            "items": [{"quantity": 2, "price": 1999, "product": "Widget"}],
            "lines": [
                {"quantity": 2, "price": 1999, "product": "Widget"},
                {"quantity": 1, "price": 500, "product": "Gadget", "dims": {"w": 3}}
            ],
            "customer": {"email": "ada@example.com", "name": "Ada"},
            "numbers": [1, 2.5, 3],
            "words": ["a", "b", "c"],
            "none": [],
            "mixed": [1, "x"],
            "nested": {"a": {"b": [10, 20]}},
            "flag": false,
            "nothing": null,
            "empty": "",
            "half": 2.5,
            "big": 1e300,
            "huge": u64::MAX,
            "expr": "quantity * price",
            "bad_expr": "quantity *"
        },
        "steps": {"calculate-total": {"output": {"total": 4317.84}}},
        "run": {"id": "run-1"}
    })
}

fn seed_config() -> Value {
    json!({
        "mapping": {
            "subtotal": "{{input.items | map: 'quantity * price' | sum}}",
            "tax": "{{input.items | map: 'quantity * price' | sum | times: 0.08}}",
            "total": "{{input.items | map: 'quantity * price' | sum | times: 1.08}}"
        },
        "to": "{{input.customer.email}}",
        "subject": "Order for {{input.items.0.product}}",
        "amount": "{{steps.calculate-total.output.total}}",
        "html": "<p>Total: ${{steps.calculate-total.output.total}}</p>"
    })
}

#[test]
fn seed_example() {
    let context = context();
    let cases = [
        (
            "{{input.items | map: 'quantity * price' | sum}}",
            Is(json!(3998)),
        ),
        (
            "{{input.items | map: 'quantity * price' | sum | times: 0.08}}",
            About(319.84),
        ),
        (
            "{{input.items | map: 'quantity * price' | sum | times: 1.08}}",
            About(4317.84),
        ),
        ("{{input.customer.email}}", Is(json!("ada@example.com"))),
        (
            "Order for {{input.items.0.product}}",
            Is(json!("Order for Widget")),
        ),
        ("{{steps.calculate-total.output.total}}", Is(json!(4317.84))),
        (
            "<p>Total: ${{steps.calculate-total.output.total}}</p>",
            Is(json!("<p>Total: $4317.84</p>")),
        ),
    ];
    for (source, want) in cases {
        check(&context, source, want);
    }
}

#[test]
fn seed_config_renders_field_by_field() {
    let rendered = render_value(&seed_config(), &context()).expect("seed config renders");
    let subtotal = &rendered["mapping"]["subtotal"];
    assert!(subtotal.is_i64(), "subtotal {subtotal} is an integer");
    assert_eq!(subtotal, &json!(3998));
    for (field, expected) in [("tax", 319.84), ("total", 4317.84)] {
        let actual = rendered["mapping"][field].as_f64().expect("a number");
        assert!((actual - expected).abs() < 1e-9, "{field}: {actual}");
    }
    assert_eq!(rendered["to"], json!("ada@example.com"));
    assert_eq!(rendered["subject"], json!("Order for Widget"));
    assert_eq!(rendered["amount"], json!(4317.84));
    assert_eq!(rendered["html"], json!("<p>Total: $4317.84</p>"));
}

#[test]
fn interpolation_renders_values_as_text() {
    let context = context();
    let cases = [
        ("Hi {{ input.customer.name }}!", "Hi Ada!"),
        (
            "{{input.items.0.quantity}} x {{input.items.0.price}}",
            "2 x 1999",
        ),
        (
            "{{input.items | map: 'quantity * price' | sum}} cents",
            "3998 cents",
        ),
        ("{{ 0.1 | plus: 0.2 }} ", "0.30000000000000004 "),
        ("half={{input.half}}", "half=2.5"),
        ("max={{input.huge}}", "max=18446744073709551615"),
        ("[{{input.nothing}}]", "[]"),
        ("{{input.flag}}!", "false!"),
        ("obj {{input.nested.a}}", r#"obj {"b":[10,20]}"#),
        ("{{input.words}}.", r#"["a","b","c"]."#),
        ("run {{run.id}}", "run run-1"),
        ("{{ -0.0 }} ", "0 "),
        (
            "{{ input.items.0.quantity }}{{ input.items.0.quantity }}",
            "22",
        ),
        (" {{input.items.0.quantity}}", " 2"),
        ("{{input.items.0.quantity}}\n", "2\n"),
        ("a }} b { c", "a }} b { c"),
        ("{{ 'a}}b' }}-", "a}}b-"),
        ("", ""),
    ];
    for (source, expected) in cases {
        check(&context, source, Is(json!(expected)));
    }
}

#[test]
fn a_lone_expression_keeps_its_json_type() {
    let context = context();
    let cases = [
        ("{{input}}", context["input"].clone()),
        ("{{ input.items }}", context["input"]["items"].clone()),
        ("{{input.items.0.product}}", json!("Widget")),
        ("{{input.flag}}", json!(false)),
        ("{{input.nothing}}", Value::Null),
        ("{{input.huge}}", json!(u64::MAX)),
        ("{{ 12 }}", json!(12)),
        ("{{1.0}}", json!(1)),
        ("{{ -3.5 }}", json!(-3.5)),
        ("{{ 2e3 }}", json!(2000)),
        (r"{{ 'it\'s' }}", json!("it's")),
        (r#"{{ "say \"hi\"\\" }}"#, json!("say \"hi\"\\")),
        (r"{{ 'a\tb\nc' }}", json!("a\tb\nc")),
        ("{{true}}", json!(true)),
        ("{{ false }}", json!(false)),
        ("{{ null }}", Value::Null),
        ("{{input.true}}", Value::Null),
    ];
    for (source, expected) in cases {
        check(&context, source, Is(expected));
    }
}

#[test]
fn missing_paths_are_null() {
    let context = context();
    let sources = [
        "{{input.missing}}",
        "{{input.missing.deeper}}",
        "{{input.items.5}}",
        "{{input.items.01}}",
        "{{input.customer.email.x}}",
        "{{input.words.0.x}}",
        "{{steps.nope.output}}",
        "{{nothing}}",
    ];
    for source in sources {
        check(&context, source, Is(Value::Null));
    }
}

#[test]
fn filters() {
    let context = context();
    let input = &context["input"];
    let cases = [
        // map: a property, a dotted property, arithmetic, and an expression read from a path.
        (
            "{{input.lines | map: 'product'}}",
            Is(json!(["Widget", "Gadget"])),
        ),
        ("{{input.lines | map: \"dims.w\"}}", Is(json!([null, 3]))),
        (
            "{{input.nested.a | map: 'x'}}",
            Fails(19, "expects an array, got an object"),
        ),
        (
            "{{input.lines | map: '-(quantity + 1) * price / 2'}}",
            Is(json!([-2998.5, -500])),
        ),
        (
            "{{input.lines | map: 'quantity - -1 + 0.5'}}",
            Is(json!([3.5, 2.5])),
        ),
        ("{{input.lines | map: input.expr}}", Is(json!([3998, 500]))),
        ("{{input.none | map: 'a * b'}}", Is(json!([]))),
        // sum
        ("{{input.numbers | sum}}", Is(json!(6.5))),
        ("{{input.none | sum}}", Is(json!(0))),
        // arithmetic
        ("{{ 3 | times: 4 }}", Is(json!(12))),
        ("{{ input.items.0.price | plus: 1 }}", Is(json!(2000))),
        ("{{ 10 | minus: 15 }}", Is(json!(-5))),
        ("{{ 7 | divided_by: 2 }}", Is(json!(3.5))),
        (
            "{{ 10 | divided_by: input.items.0.quantity }}",
            Is(json!(5)),
        ),
        // round
        ("{{ 2.5 | round }}", Is(json!(3))),
        ("{{ -2.5 | round }}", Is(json!(-3))),
        ("{{ 1.23456 | round: 2 }}", Is(json!(1.23))),
        ("{{ input.big | round: 15 }}", Is(json!(1e300))),
        (
            "{{input.items | map: 'quantity * price' | sum | times: 0.08 | round: 1}}",
            Is(json!(319.8)),
        ),
        // default
        ("{{ input.nothing | default: 'n/a' }}", Is(json!("n/a"))),
        ("{{ input.missing | default: 'n/a' }}", Is(json!("n/a"))),
        ("{{ input.flag | default: 'n/a' }}", Is(json!("n/a"))),
        (
            "{{ input.empty | default: input.customer.name }}",
            Is(json!("Ada")),
        ),
        ("{{ 0 | default: 1 }}", Is(json!(0))),
        (
            "{{ input.numbers | default: 1 }}",
            Is(input["numbers"].clone()),
        ),
        // size
        ("{{ input.lines | size }}", Is(json!(2))),
        ("{{ input.customer | size }}", Is(json!(2))),
        ("{{ 'héllo' | size }}", Is(json!(5))),
        (
            "{{ 5 | size }}",
            Fails(7, "filter `size`: expects an array, an object or a string"),
        ),
        // first and last
        ("{{ input.words | first }}", Is(json!("a"))),
        ("{{ input.words | last }}", Is(json!("c"))),
        ("{{ input.none | first }}", Is(Value::Null)),
        (
            "{{ input.lines | map: 'product' | last }}",
            Is(json!("Gadget")),
        ),
        (
            "{{ input.lines | map: 'product' | first | upcase }}",
            Is(json!("WIDGET")),
        ),
        (
            "{{ 'abc' | first }}",
            Fails(11, "filter `first`: expects an array, got a string"),
        ),
        // join
        ("{{ input.words | join }}", Is(json!("a b c"))),
        ("{{ input.words | join: ', ' }}", Is(json!("a, b, c"))),
        ("{{ input.numbers | join: '+' }}", Is(json!("1+2.5+3"))),
        // case
        ("{{ input.customer.name | upcase }}", Is(json!("ADA"))),
        ("{{ 'ÀB' | downcase }}", Is(json!("àb"))),
        // json
        (
            "{{ input.nested | json }}",
            Is(json!(r#"{"a":{"b":[10,20]}}"#)),
        ),
        ("{{ 'x' | json }}", Is(json!("\"x\""))),
        ("{{ input.nothing | json }}", Is(json!("null"))),
    ];
    for (source, want) in cases {
        check(&context, source, want);
    }
}

#[test]
fn errors_name_the_problem_and_its_position() {
    let context = context();
    let cases = [
        // Syntax.
        (
            "Hi {{ input.name | shout }}",
            Fails(19, "unknown filter `shout`"),
        ),
        ("Hello {{ input.name", Fails(6, "unclosed `{{`")),
        ("{{ input.a }} and {{ input.b ", Fails(18, "unclosed `{{`")),
        ("{{", Fails(0, "unclosed `{{`")),
        ("{{ }}", Fails(3, "expected a path or a literal, found `}`")),
        (
            "{{ input input }}",
            Fails(9, "expected `|` or `}}`, found `i`"),
        ),
        ("{{ 'abc }}", Fails(3, "unterminated string")),
        (r"{{ 'a\q' }}", Fails(5, "unknown escape")),
        (
            "{{ input. }}",
            Fails(8, "expected a path segment after `.`"),
        ),
        ("{{ 1e999 }}", Fails(3, "out of range")),
        ("{{ - }}", Fails(3, "expected a number, found `-`")),
        ("{{ 1 | }}", Fails(7, "expected a filter name, found `}`")),
        // Arithmetic, pointing inside the string, past escapes.
        (
            "{{ input.items | map: 'quantity * * price' }}",
            Fails(34, "expected a number, a field name or `(`"),
        ),
        ("{{ input.x | map: '(a + b' }}", Fails(25, "expected `)`")),
        (
            "{{ input.x | map: 'a b' }}",
            Fails(21, "expected an operator, found `b`"),
        ),
        ("{{ input.x | map: '' }}", Fails(19, "found the end")),
        (r#"{{ 1 | map: "a\t* *" }}"#, Fails(18, "expected a number")),
        // Arity and literal arguments.
        (
            "{{ input.items | sum: 2 }}",
            Fails(17, "filter `sum` takes no arguments, got 1"),
        ),
        (
            "{{ 1 | times }}",
            Fails(7, "filter `times` takes 1 argument, got 0"),
        ),
        (
            "{{ 1 | round: 1, 2 }}",
            Fails(7, "filter `round` takes 0 to 1 arguments, got 2"),
        ),
        (
            "{{ 1 | times: 'x' }}",
            Fails(
                14,
                "filter `times`: argument 1: expected a number, got a string",
            ),
        ),
        ("{{ 1 | round: 16 }}", Fails(14, "from 0 to 15, got 16")),
        ("{{ 1 | round: 1.5 }}", Fails(14, "from 0 to 15, got 1.5")),
        (
            "{{ 1 | map: 2 }}",
            Fails(12, "expected a string, got a number"),
        ),
        // Evaluation: errors point at the filter.
        (
            "{{ 1 | divided_by: 0 }}",
            Fails(7, "filter `divided_by`: division by zero"),
        ),
        (
            "{{ input.customer | sum }}",
            Fails(20, "filter `sum`: expects an array, got an object"),
        ),
        (
            "{{ input.mixed | sum }}",
            Fails(17, "filter `sum`: item 1 is a string, not a number"),
        ),
        (
            "{{ input.missing | sum }}",
            Fails(19, "expects an array, got null"),
        ),
        (
            "{{ input.lines | map: 'price * weight' }}",
            Fails(17, "item 0: field `weight` is missing, not a number"),
        ),
        (
            "{{ input.lines | map: 'product * 2' }}",
            Fails(17, "field `product` is a string"),
        ),
        (
            "{{ input.lines | map: 'price / 0' }}",
            Fails(17, "item 0: division by zero"),
        ),
        (
            "{{ input.lines | map: 'price / (quantity - quantity)' }}",
            Fails(17, "division by zero"),
        ),
        (
            "{{ input.lines | map: input.bad_expr }}",
            Fails(17, "expression \"quantity *\""),
        ),
        (
            "{{ input | map: input.numbers }}",
            Fails(11, "argument 1: expected a string, got an array"),
        ),
        (
            "{{ input.name | upcase }}",
            Fails(16, "filter `upcase`: expects a string, got null"),
        ),
        (
            "{{ 'x' | times: 2 }}",
            Fails(9, "filter `times`: expects a number, got a string"),
        ),
        (
            "{{ input.big | times: 1e300 }}",
            Fails(15, "result is not a finite number"),
        ),
        (
            "{{ input.big | times: input.big | minus: 1 }}",
            Fails(15, "not a finite number"),
        ),
    ];
    for (source, want) in cases {
        check(&context, source, want);
    }
}

#[test]
fn bounds_are_errors() {
    let repeat = |piece: &str, count: usize| piece.repeat(count);
    let filters = |count: usize| format!("{{{{ 1 {} }}}}", repeat("| plus: 1 ", count));
    let nested = |depth: usize| {
        format!(
            "{{{{ 1 | map: '{}a{}' }}}}",
            "(".repeat(depth),
            ")".repeat(depth)
        )
    };
    let context = json!({"input": {
        "many": vec![0; ITEMS_MAX],
        "too_many": vec![0; ITEMS_MAX + 1],
        "long": "x".repeat(RENDERED_BYTES_MAX / 2 + 1),
    }});
    let long_sum = format!("{{{{ input.many | map: 'a{}' }}}}", repeat(" + a", 99));
    let cases = [
        (
            repeat("a", TEMPLATE_BYTES_MAX),
            Is(json!(repeat("a", TEMPLATE_BYTES_MAX))),
        ),
        (
            repeat("a", TEMPLATE_BYTES_MAX + 1),
            Fails(TEMPLATE_BYTES_MAX, "TEMPLATE_BYTES_MAX"),
        ),
        (filters(FILTERS_MAX), Is(json!(FILTERS_MAX + 1))),
        (
            filters(FILTERS_MAX + 1),
            Fails(5 + 10 * FILTERS_MAX, "FILTERS_MAX"),
        ),
        (nested(ARITH_DEPTH_MAX), Fails(7, "expects an array")),
        (
            nested(ARITH_DEPTH_MAX + 1),
            Fails(13 + ARITH_DEPTH_MAX, "ARITH_DEPTH_MAX"),
        ),
        (
            format!("{{{{ 1 | map: '{}a' }}}}", repeat("-", 100)),
            Fails(13 + 32, "ARITH_DEPTH_MAX"),
        ),
        (
            format!("{{{{ 1 | map: 'a{}' }}}}", repeat("+a", 200)),
            Fails(13 + 257, "ARITH_OPS_MAX"),
        ),
        ("{{ input.many | sum }}".to_owned(), Is(json!(0))),
        (
            "{{ input.too_many | sum }}".to_owned(),
            Fails(20, "ITEMS_MAX"),
        ),
        (
            "{{ input.many | join: 'xxxxxxxxxxx' }}".to_owned(),
            Fails(16, "RENDERED_BYTES_MAX"),
        ),
        (
            "{{ input.many | json }}".to_owned(),
            Is(json!(format!("[{}0]", repeat("0,", ITEMS_MAX - 1)))),
        ),
        (
            "{{input.long}}{{input.long}}".to_owned(),
            Fails(14, "RENDERED_BYTES_MAX"),
        ),
        (long_sum, Fails(16, "EVAL_OPERATIONS_MAX")),
        (
            repeat("{{ input.long | size }}", 127),
            Is(json!(repeat("524289", 127))),
        ),
        (
            // The 128th `size` reads past 64 MiB: it fails, pointing at its filter name.
            repeat("{{ input.long | size }}", 128),
            Fails(23 * 127 + 16, "EVAL_TEXT_BYTES_MAX"),
        ),
    ];
    for (source, want) in cases {
        check(&context, &source, want);
    }
}

#[test]
fn step_references_point_at_their_paths() {
    let cases: [(&str, &[(&str, usize)]); 6] = [
        (
            "{{steps.calculate-total.output.total}}",
            &[("calculate-total", 2)],
        ),
        (
            "{{ input.x | default: steps.fallback.output.x }} and {{steps.a.output}}",
            &[("fallback", 22), ("a", 55)],
        ),
        ("{{ steps.a }}{{ steps.a.output }}", &[("a", 3), ("a", 16)]),
        ("{{steps}}", &[]),
        ("{{ 'steps.a.output' }}", &[]),
        ("steps.a.output", &[]),
    ];
    for (source, expected) in cases {
        let template = Template::parse(source).expect("parses");
        let expected: Vec<(String, usize)> = expected
            .iter()
            .map(|&(id, at)| (id.to_owned(), at))
            .collect();
        assert_eq!(template.step_references(), expected, "template {source:?}");
    }
}

#[test]
fn is_literal_means_no_expressions() {
    for (source, literal) in [
        ("plain", true),
        ("", true),
        ("a }} b", true),
        ("{{1}}", false),
        ("a {{1}}", false),
    ] {
        let template = Template::parse(source).expect("parses");
        assert_eq!(template.is_literal(), literal, "template {source:?}");
    }
}

#[test]
fn render_value_names_the_failing_field() {
    let cases = [
        (
            json!({"mapping": {"tax": "{{ 1 | divided_by: 0 }}"}}),
            vec!["mapping", "tax"],
            7,
        ),
        (json!({"a": [1, "ok", "{{ nope"]}), vec!["a", "2"], 0),
        (json!(["{{ 1 | shout }}"]), vec!["0"], 7),
    ];
    for (value, path, position) in cases {
        let error = render_value(&value, &context()).expect_err("fails");
        assert_eq!(error.path, path, "{error}");
        assert_eq!(error.error.position, position, "{error}");
    }
    let error = render_value(&json!({"a": ["{{ 1 | shout }}"]}), &json!({})).expect_err("fails");
    assert_eq!(error.to_string(), "a.0: unknown filter `shout` (at byte 7)");
    let untouched = json!({"n": 1, "b": true, "z": null, "keys {{are}} not templates": "x"});
    assert_eq!(render_value(&untouched, &context()), Ok(untouched));
}

#[test]
fn check_value_collects_every_error_and_reference() {
    let config = json!({
        "x": "{{",
        "list": ["ok {{steps.s1.output}}", "{{ a | nope }}", {"deep": "{{ 1 | sum: 1 }}"}],
        "n": 5,
        "y": "{{steps.s2.output.v}} {{ steps.s1.output }}",
    });
    let (mut errors, mut references) = check_value(&config);
    errors.sort_by(|a, b| a.path.cmp(&b.path));
    references.sort();
    let errors: Vec<(Vec<String>, usize)> = errors
        .into_iter()
        .map(|error| (error.path, error.error.position))
        .collect();
    let path = |parts: &[&str]| {
        parts
            .iter()
            .map(|part| part.to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        errors,
        vec![
            (path(&["list", "1"]), 7),
            (path(&["list", "2", "deep"]), 7),
            (path(&["x"]), 0)
        ]
    );
    assert_eq!(
        references,
        vec![
            (path(&["list", "0"]), "s1".to_owned(), 5),
            (path(&["y"]), "s1".to_owned(), 25),
            (path(&["y"]), "s2".to_owned(), 2),
        ]
    );
}

#[test]
fn values_nested_too_deep_are_errors() {
    let mut value = json!("{{ 1 }}");
    for _ in 0..VALUE_DEPTH_MAX + 1 {
        value = json!([value]);
    }
    let error = render_value(&value, &context()).expect_err("too deep");
    assert!(error.error.message.contains("VALUE_DEPTH_MAX"), "{error}");
    let (errors, _) = check_value(&value);
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].path.len(), VALUE_DEPTH_MAX + 1);
}

/// Template-ish text: the tokens of the language in any order, so the parser sees near-misses.
fn templateish() -> impl Strategy<Value = String> {
    let tokens = prop::sample::select(vec![
        "{{",
        "}}",
        "{",
        "}",
        "|",
        ":",
        ",",
        ".",
        " ",
        "'",
        "\"",
        "\\",
        "-",
        "(",
        ")",
        "*",
        "+",
        "/",
        "0",
        "1.5",
        "-3",
        "1e999",
        "input",
        "items",
        "lines",
        "steps",
        "calculate-total",
        "output",
        "map",
        "sum",
        "times",
        "divided_by",
        "round",
        "default",
        "size",
        "first",
        "join",
        "json",
        "'quantity * price'",
        "'product'",
        "é",
        "null",
        "true",
    ]);
    prop::collection::vec(tokens, 0..40).prop_map(|tokens| tokens.concat())
}

proptest! {
    #[test]
    fn parsing_never_panics(source in any::<String>()) {
        let _ = Template::parse(&source);
    }

    #[test]
    fn text_without_braces_renders_to_itself(source in any::<String>()) {
        prop_assume!(!source.contains("{{"));
        let template = Template::parse(&source).expect("plain text parses");
        prop_assert!(template.is_literal());
        prop_assert_eq!(template.render(&context()), Ok(Value::String(source)));
    }

    #[test]
    fn rendering_arbitrary_strings_never_panics(source in any::<String>()) {
        if let Ok(template) = Template::parse(&source) {
            let _ = template.render(&context());
        }
    }

    #[test]
    fn rendering_templateish_strings_never_panics(source in templateish()) {
        if let Ok(template) = Template::parse(&source) {
            let _ = template.render(&context());
            let _ = template.step_references();
        }
        let _ = check_value(&json!({ "field": source }));
    }
}

#[test]
fn url_encode_and_escape() {
    let context = json!({
        "input": {"path": "a/b ?c..", "html": "<b>\"Tom\" & 'Jerry'</b>", "n": 42, "list": [1]}
    });
    let cases = [
        ("{{input.path | url_encode}}", Is(json!("a%2Fb%20%3Fc.."))),
        ("/x/{{input.n | url_encode}}", Is(json!("/x/42"))),
        (
            "{{input.html | escape}}",
            Is(json!(
                "&lt;b&gt;&quot;Tom&quot; &amp; &#39;Jerry&#39;&lt;/b&gt;"
            )),
        ),
        ("{{input.missing | escape}}", Is(json!(""))),
        (
            "{{input.list | url_encode}}",
            Fails(15, "filter `url_encode`: expects a string, got an array"),
        ),
    ];
    for (source, want) in cases {
        check(&context, source, want);
    }
}

#[test]
fn html_rendering_escapes_inserted_values_unless_raw() {
    let context = json!({"input": {"name": "<script>x</script> & co", "total": 43.2,
                                    "snippet": "<b>bold</b>"}});
    let template = Template::parse(
        "<p>Hi {{input.name}}</p><p>${{input.total}}</p>{{input.snippet | raw}}{{input.gone}}",
    )
    .expect("parses");
    assert_eq!(
        template.render_html(&context).expect("renders"),
        "<p>Hi &lt;script&gt;x&lt;/script&gt; &amp; co</p><p>$43.2</p><b>bold</b>"
    );
    // A lone expression is HTML text too.
    let lone = Template::parse("{{input.name}}").expect("parses");
    assert_eq!(
        lone.render_html(&context).expect("renders"),
        "&lt;script&gt;x&lt;/script&gt; &amp; co"
    );
    // Outside HTML, raw changes nothing.
    check(
        &context,
        "{{input.snippet | raw}}",
        Is(json!("<b>bold</b>")),
    );
}

mod compiled {
    use proptest::prelude::*;
    use serde_json::{json, Value};

    use crate::template::{render_value, Template, TemplateText, TemplateValue, VALUE_DEPTH_MAX};

    /// Strings of every kind a config holds: plain text, whole-value and interpolated
    /// templates, filters, missing paths, and templates that do not parse.
    fn string() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("plain text".to_owned()),
            Just(String::new()),
            Just("{{input.n}}".to_owned()),
            Just("n = {{ input.n }} and {{input.s | upcase}}".to_owned()),
            Just("{{ steps.a.output.list | size }}".to_owned()),
            Just("{{ input.missing.deeper }}".to_owned()),
            Just("{{ unclosed".to_owned()),
            Just("{{ input.n | nosuchfilter }}".to_owned()),
            Just("{{ input.s | plus: 1 }}".to_owned()),
            "[a-z {}|.]{0,12}",
        ]
    }

    fn value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i32>().prop_map(|n| json!(n)),
            string().prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 32, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::btree_map("[a-c]{1,2}", inner, 0..4)
                    .prop_map(|map| Value::Object(map.into_iter().collect())),
            ]
        })
    }

    fn context() -> Value {
        json!({
            "input": {"n": 7, "s": "hi"},
            "steps": {"a": {"output": {"list": [1, 2, 3]}}},
            "run": {"id": "run_1"}
        })
    }

    proptest! {
        /// A compiled config renders to exactly what parsing and rendering its source gives:
        /// the same value, or the same first error at the same path.
        #[test]
        fn a_compiled_value_renders_as_its_source_does(source in value()) {
            let compiled = TemplateValue::compile(source.clone());
            prop_assert_eq!(compiled.render(&context()), render_value(&source, &context()));
            prop_assert_eq!(compiled.source(), &source);
        }

        #[test]
        fn a_compiled_string_renders_as_its_source_does(source in string()) {
            let compiled = TemplateText::compile(source.clone());
            let parsed = Template::parse(&source);
            prop_assert_eq!(
                compiled.render(&context()),
                parsed.clone().and_then(|t| t.render(&context()))
            );
            prop_assert_eq!(
                compiled.render_html(&context()),
                parsed.and_then(|t| t.render_html(&context()))
            );
        }
    }

    #[test]
    fn a_value_nested_too_deep_fails_where_the_walk_does() {
        let mut deep = json!("{{input.n}}");
        for _ in 0..=VALUE_DEPTH_MAX {
            deep = json!([deep]);
        }
        let compiled = TemplateValue::compile(deep.clone());
        let error = compiled.render(&context()).expect_err("too deep");
        assert_eq!(Err(error.clone()), render_value(&deep, &context()));
        assert!(error.to_string().contains("VALUE_DEPTH_MAX"), "{error}");
    }
}
