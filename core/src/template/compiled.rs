//! Templates parsed once: a step's config compiled when its workflow version is checked, so
//! each attempt renders without parsing a string again.
//!
//! Rendering a [`TemplateValue`] gives exactly what [`super::render_value`] gives for its
//! source (the same value, or the same first error with the same path): the compiled tree
//! keeps the source's order of keys, the depth bound and every parse error, reported when
//! rendered as the uncompiled walk would. Subtrees without a template are kept as they are and
//! cloned, not walked.

use serde_json::Value;

use super::{check_depth, field_error, FieldError, Template, TemplateError};

/// A JSON value whose strings are templates (a transform's mapping, an HTTP step's config, an
/// action's params, a child workflow's input), compiled once.
#[derive(Clone, Debug)]
pub struct TemplateValue {
    source: Value,
    node: Node,
}

#[derive(Clone, Debug)]
enum Node {
    /// No template at or below this point: rendering returns it as it is.
    Literal(Value),
    /// A string holding a template (or one that failed to parse: rendering reports it).
    Text {
        path: Vec<String>,
        template: Result<Template, TemplateError>,
    },
    Array(Vec<Node>),
    Object(Vec<(String, Node)>),
    /// Nested deeper than `VALUE_DEPTH_MAX`: rendering fails here, as the walk does.
    TooDeep(FieldError),
}

impl TemplateValue {
    pub fn compile(source: Value) -> TemplateValue {
        let node = compile(&source, &mut Vec::new());
        TemplateValue { source, node }
    }

    /// The value as written in the definition.
    pub fn source(&self) -> &Value {
        &self.source
    }

    /// Renders every string against `context`: the result of `render_value(self.source(),
    /// context)`, without parsing.
    pub fn render(&self, context: &Value) -> Result<Value, FieldError> {
        render(&self.node, context)
    }
}

/// Equal when written the same: the compiled form follows from the source.
impl PartialEq for TemplateValue {
    fn eq(&self, other: &TemplateValue) -> bool {
        self.source == other.source
    }
}

impl From<Value> for TemplateValue {
    fn from(source: Value) -> TemplateValue {
        TemplateValue::compile(source)
    }
}

fn compile(value: &Value, path: &mut Vec<String>) -> Node {
    if let Err(error) = check_depth(path) {
        return Node::TooDeep(error);
    }
    match value {
        Value::String(source) => match Template::parse(source) {
            Ok(template) if template.is_literal() => Node::Literal(value.clone()),
            template => Node::Text {
                path: path.clone(),
                template,
            },
        },
        Value::Array(items) => {
            let nodes: Vec<Node> = items
                .iter()
                .enumerate()
                .map(|(index, item)| {
                    path.push(index.to_string());
                    let node = compile(item, path);
                    path.pop();
                    node
                })
                .collect();
            if nodes.iter().all(|node| matches!(node, Node::Literal(_))) {
                Node::Literal(value.clone())
            } else {
                Node::Array(nodes)
            }
        }
        Value::Object(fields) => {
            let nodes: Vec<(String, Node)> = fields
                .iter()
                .map(|(key, field)| {
                    path.push(key.clone());
                    let node = compile(field, path);
                    path.pop();
                    (key.clone(), node)
                })
                .collect();
            if nodes
                .iter()
                .all(|(_, node)| matches!(node, Node::Literal(_)))
            {
                Node::Literal(value.clone())
            } else {
                Node::Object(nodes)
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => Node::Literal(value.clone()),
    }
}

fn render(node: &Node, context: &Value) -> Result<Value, FieldError> {
    match node {
        Node::Literal(value) => Ok(value.clone()),
        Node::Text { path, template } => match template {
            Ok(template) => template
                .render(context)
                .map_err(|error| field_error(path, error)),
            Err(error) => Err(field_error(path, error.clone())),
        },
        Node::Array(nodes) => nodes
            .iter()
            .map(|node| render(node, context))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        Node::Object(nodes) => {
            let mut rendered = serde_json::Map::new();
            for (key, node) in nodes {
                rendered.insert(key.clone(), render(node, context)?);
            }
            Ok(Value::Object(rendered))
        }
        Node::TooDeep(error) => Err(error.clone()),
    }
}

/// One template string (a connection id, a foreach's items, a delay's `until`, an email's
/// subject), parsed once.
#[derive(Clone, Debug)]
pub struct TemplateText {
    source: String,
    template: Result<Template, TemplateError>,
}

impl TemplateText {
    pub fn compile(source: impl Into<String>) -> TemplateText {
        let source = source.into();
        let template = Template::parse(&source);
        TemplateText { source, template }
    }

    /// The string as written in the definition.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// `Template::parse(source)?.render(context)`, without parsing.
    pub fn render(&self, context: &Value) -> Result<Value, TemplateError> {
        match &self.template {
            Ok(template) => template.render(context),
            Err(error) => Err(error.clone()),
        }
    }

    /// `Template::parse(source)?.render_html(context)`, without parsing.
    pub fn render_html(&self, context: &Value) -> Result<String, TemplateError> {
        match &self.template {
            Ok(template) => template.render_html(context),
            Err(error) => Err(error.clone()),
        }
    }
}

impl PartialEq for TemplateText {
    fn eq(&self, other: &TemplateText) -> bool {
        self.source == other.source
    }
}

impl From<&str> for TemplateText {
    fn from(source: &str) -> TemplateText {
        TemplateText::compile(source)
    }
}

impl From<String> for TemplateText {
    fn from(source: String) -> TemplateText {
        TemplateText::compile(source)
    }
}
