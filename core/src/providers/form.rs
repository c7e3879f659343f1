//! `application/x-www-form-urlencoded` with nested keys, as Stripe and Rails read it:
//! `{"metadata": {"source": "api"}, "items": [{"price": 5}]}` →
//! `metadata[source]=api&items[0][price]=5`. Object keys keep their order; null is left out;
//! booleans are `true`/`false`.

use serde_json::Value;

use crate::template::url_encode;

/// The encoded form of `value` (an object; anything else encodes to nothing).
pub fn encode(value: &Value) -> String {
    let mut pairs = Vec::new();
    if let Value::Object(map) = value {
        for (key, value) in map {
            flatten(key.clone(), value, &mut pairs);
        }
    }
    pairs
        .iter()
        .map(|(key, value)| format!("{}={}", url_encode(key), url_encode(value)))
        .collect::<Vec<_>>()
        .join("&")
}

fn flatten(key: String, value: &Value, pairs: &mut Vec<(String, String)>) {
    match value {
        Value::Null => {}
        Value::Bool(b) => pairs.push((key, b.to_string())),
        Value::Number(n) => pairs.push((key, n.to_string())),
        Value::String(s) => pairs.push((key, s.clone())),
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                flatten(format!("{key}[{index}]"), item, pairs);
            }
        }
        Value::Object(map) => {
            for (name, item) in map {
                flatten(format!("{key}[{name}]"), item, pairs);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::encode;

    #[test]
    fn nested_keys_as_stripe_reads_them() {
        let form = encode(&json!({
            "customer": "cus_123",
            "amount": 4318,
            "metadata": {"source": "api-order", "note": "a&b=c d"},
            "items": [{"price": "price_1", "quantity": 2}],
            "flag": true,
            "gone": null
        }));
        // Key order follows the map's (serde_json sorts keys unless preserve_order is on).
        let mut pairs: Vec<&str> = form.split('&').collect();
        pairs.sort_unstable();
        assert_eq!(
            pairs,
            [
                "amount=4318",
                "customer=cus_123",
                "flag=true",
                "items%5B0%5D%5Bprice%5D=price_1",
                "items%5B0%5D%5Bquantity%5D=2",
                "metadata%5Bnote%5D=a%26b%3Dc%20d",
                "metadata%5Bsource%5D=api-order",
            ]
        );
    }

    #[test]
    fn non_objects_encode_to_nothing() {
        assert_eq!(encode(&json!("text")), "");
        assert_eq!(encode(&json!({})), "");
    }
}
