use serde_json::{json, Value};

use super::*;

fn catalog() -> Catalog {
    Catalog::builtin().expect("the built-in providers load")
}

fn built(full_id: &str, params: Value, responses: &[Value], index: usize) -> BuiltRequest {
    let catalog = catalog();
    let found = catalog.action(full_id).expect("the action exists");
    let params = prepare_params(&found, params).expect("valid params");
    let scope = RequestScope::new(&params, responses);
    render_request(found.action, index, &scope, &found.provider.base_url)
        .expect("the request renders")
        .expect("the request is sent")
}

fn body_pairs(request: &BuiltRequest) -> Vec<String> {
    let body = String::from_utf8(request.body.clone().unwrap_or_default()).expect("utf-8");
    let mut pairs: Vec<String> = body.split('&').map(str::to_owned).collect();
    pairs.sort();
    pairs
}

#[test]
fn builtin_providers_load_with_the_required_actions() {
    let catalog = catalog();
    for id in [
        "stripe.createCustomer",
        "stripe.createInvoice",
        "stripe.retrieveInvoice",
        "slack.postMessage",
        "github.createIssue",
        "http.request",
    ] {
        assert!(catalog.action(id).is_ok(), "{id} is in the catalog");
    }
}

#[test]
fn stripe_invoice_is_an_item_then_an_invoice_then_its_finalization() {
    let params = json!({
        "customerId": "cus_123",
        "amount": 4317.84,
        "metadata": {"source": "api-order"}
    });
    let item = built("stripe.createInvoice", params.clone(), &[], 0);
    assert_eq!(item.method, "POST");
    assert_eq!(item.url, "https://api.stripe.com/v1/invoiceitems");
    assert_eq!(
        body_pairs(&item),
        [
            "amount=4318",
            "currency=usd",
            "customer=cus_123",
            "metadata%5Bsource%5D=api-order"
        ]
    );
    assert!(item.headers.contains(&(
        "Content-Type".into(),
        "application/x-www-form-urlencoded".into()
    )));
    let invoice = built(
        "stripe.createInvoice",
        params.clone(),
        &[json!({"id": "ii_1"})],
        1,
    );
    assert_eq!(invoice.url, "https://api.stripe.com/v1/invoices");
    assert!(body_pairs(&invoice).contains(&"pending_invoice_items_behavior=include".into()));
    let finalize = built(
        "stripe.createInvoice",
        params,
        &[json!({"id": "ii_1"}), json!({"id": "in_1/x"})],
        2,
    );
    assert_eq!(
        finalize.url,
        "https://api.stripe.com/v1/invoices/in_1%2Fx/finalize"
    );
}

#[test]
fn a_request_whose_when_is_false_is_skipped_and_the_output_is_the_last_response() {
    let catalog = catalog();
    let found = catalog.action("stripe.createInvoice").expect("exists");
    let params = prepare_params(
        &found,
        json!({"customerId": "cus_1", "amount": 100, "finalize": false}),
    )
    .expect("valid");
    let responses = [json!({"id": "ii_1"}), json!({"id": "in_1", "number": null})];
    let scope = RequestScope::new(&params, &responses);
    let third = render_request(found.action, 2, &scope, "https://api.stripe.com");
    assert_eq!(third, Ok(None));
    let with_skip = [responses[0].clone(), responses[1].clone(), Value::Null];
    let output = output_of(found.action, &RequestScope::new(&params, &with_skip));
    assert_eq!(output, Ok(json!({"id": "in_1", "number": null})));
}

#[test]
fn params_are_checked_against_the_schema_with_paths() {
    let catalog = catalog();
    let found = catalog.action("stripe.createInvoice").expect("exists");
    let problems =
        prepare_params(&found, json!({"amount": "ten", "extra": 1})).expect_err("invalid params");
    let paths: Vec<Vec<String>> = problems.iter().map(|p| p.path.clone()).collect();
    assert!(
        paths.contains(&vec!["customerId".to_string()]),
        "{problems:?}"
    );
    assert!(paths.contains(&vec!["amount".to_string()]), "{problems:?}");
    assert!(
        problems.iter().any(|p| p.message.contains("extra")),
        "{problems:?}"
    );
}

#[test]
fn static_checks_skip_templated_values_but_not_missing_params() {
    let catalog = catalog();
    let found = catalog.action("stripe.createInvoice").expect("exists");
    let templated =
        json!({"customerId": "{{input.customerId}}", "amount": "{{steps.t.output.total}}"});
    assert_eq!(static_param_problems(&found, &templated), vec![]);
    let missing = json!({"amount": "{{steps.t.output.total}}"});
    let problems = static_param_problems(&found, &missing);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].path, ["customerId"]);
    let wrong = json!({"customerId": 5, "amount": "{{x}}"});
    assert_eq!(
        static_param_problems(&found, &wrong)[0].path,
        ["customerId"]
    );
}

#[test]
fn unknown_actions_and_providers_say_what_exists() {
    let catalog = catalog();
    let Err(message) = catalog.action("stripe.refundEverything") else {
        panic!("an unknown action is refused");
    };
    assert!(message.contains("createInvoice"), "{message}");
    let Err(message) = catalog.action("paypal.pay") else {
        panic!("an unknown provider is refused");
    };
    assert!(message.contains("stripe"), "{message}");
    assert!(catalog.action("nodot").is_err());
}

#[test]
fn slack_and_github_requests_follow_their_apis() {
    let slack = built(
        "slack.postMessage",
        json!({"channel": "C1", "text": "hi"}),
        &[],
        0,
    );
    assert_eq!(slack.url, "https://slack.com/api/chat.postMessage");
    let body: Value =
        serde_json::from_slice(&slack.body.clone().unwrap_or_default()).expect("json");
    assert_eq!(body, json!({"channel": "C1", "text": "hi"}));
    let catalog = catalog();
    let spec = &catalog
        .action("slack.postMessage")
        .expect("exists")
        .action
        .requests[0];
    assert_eq!(
        failure_of(spec, &json!({"ok": false, "error": "channel_not_found"})),
        Some(("ACTION_FAILED".into(), "channel_not_found".into()))
    );
    assert_eq!(failure_of(spec, &json!({"ok": true})), None);

    let issue = built(
        "github.createIssue",
        json!({"owner": "acme", "repo": "app", "title": "Broken"}),
        &[],
        0,
    );
    assert_eq!(issue.url, "https://api.github.com/repos/acme/app/issues");
    assert!(issue
        .headers
        .contains(&("User-Agent".into(), "duro".into())));
}

#[test]
fn http_request_takes_any_url_with_query_and_form() {
    let request = built(
        "http.request",
        json!({"method": "POST", "url": "http://127.0.0.1:9/x", "query": {"a": "b c"},
               "encoding": "form", "body": {"k": "v"}}),
        &[],
        0,
    );
    assert_eq!(request.method, "POST");
    assert_eq!(request.url, "http://127.0.0.1:9/x?a=b%20c");
    assert_eq!(request.body.as_deref(), Some(&b"k=v"[..]));
}
