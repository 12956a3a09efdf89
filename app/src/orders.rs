//! Orders: input validation and the bounded in-memory store.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::SystemTime;

use serde_json::{json, Map, Value};

use crate::clock::rfc3339_millis;

pub const MAX_ITEM_CHARS: usize = 100;
pub const MAX_QUANTITY: u64 = 1_000;
pub const MAX_UNIT_PRICE_CENTS: u64 = 1_000_000;

/// A validated `POST /orders` body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewOrder {
    pub item: String,
    pub quantity: u64,
    pub unit_price_cents: u64,
}

impl NewOrder {
    /// Parses and validates `{"item": "...", "quantity": N, "unit_price_cents": N}`.
    /// The error is a message for the client (answered with 400).
    pub fn parse(body: &[u8]) -> Result<NewOrder, String> {
        let value: Value = serde_json::from_slice(body).map_err(|e| format!("body is not valid JSON: {e}"))?;
        let object = value
            .as_object()
            .ok_or("body must be a JSON object like {\"item\": \"widget\", \"quantity\": 2, \"unit_price_cents\": 1999}")?;
        if let Some(unknown) = object.keys().find(|k| !matches!(k.as_str(), "item" | "quantity" | "unit_price_cents")) {
            return Err(format!("unknown field `{unknown}`"));
        }
        let item = match object.get("item") {
            Some(Value::String(s)) => s.trim(),
            Some(_) => return Err("item must be a string".into()),
            None => return Err("item is required".into()),
        };
        if item.is_empty() {
            return Err("item must not be empty".into());
        }
        if item.chars().count() > MAX_ITEM_CHARS {
            return Err(format!("item must be at most {MAX_ITEM_CHARS} characters"));
        }
        if item.chars().any(char::is_control) {
            return Err("item must not contain control characters".into());
        }
        Ok(NewOrder {
            item: item.to_owned(),
            quantity: integer_in(object, "quantity", 1, MAX_QUANTITY)?,
            unit_price_cents: integer_in(object, "unit_price_cents", 1, MAX_UNIT_PRICE_CENTS)?,
        })
    }

    pub fn total_cents(&self) -> u64 {
        self.quantity * self.unit_price_cents
    }
}

fn integer_in(object: &Map<String, Value>, key: &str, min: u64, max: u64) -> Result<u64, String> {
    let value = object.get(key).ok_or(format!("{key} is required"))?;
    value.as_u64().filter(|n| (min..=max).contains(n)).ok_or(format!("{key} must be an integer between {min} and {max}"))
}

/// A stored order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Order {
    pub id: u64,
    pub item: String,
    pub quantity: u64,
    pub unit_price_cents: u64,
    pub total_cents: u64,
    pub created_at: String,
}

impl Order {
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "item": self.item,
            "quantity": self.quantity,
            "unit_price_cents": self.unit_price_cents,
            "total_cents": self.total_cents,
            "created_at": self.created_at,
        })
    }
}

/// Orders in memory, oldest first; at most `capacity` of them (the oldest
/// are dropped). Ids grow from 1 and are never reused.
pub struct Store {
    inner: Mutex<StoreInner>,
}

struct StoreInner {
    next_id: u64,
    capacity: usize,
    orders: VecDeque<Order>,
}

impl Store {
    pub fn new(capacity: usize) -> Store {
        assert!(capacity > 0, "store capacity must be positive");
        Store { inner: Mutex::new(StoreInner { next_id: 1, capacity, orders: VecDeque::new() }) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, StoreInner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn create(&self, new: NewOrder) -> Order {
        let created_at = rfc3339_millis(SystemTime::now());
        let mut inner = self.lock();
        let order = Order {
            id: inner.next_id,
            total_cents: new.total_cents(),
            item: new.item,
            quantity: new.quantity,
            unit_price_cents: new.unit_price_cents,
            created_at,
        };
        inner.next_id += 1;
        if inner.orders.len() == inner.capacity {
            inner.orders.pop_front();
        }
        inner.orders.push_back(order.clone());
        order
    }

    pub fn get(&self, id: u64) -> Option<Order> {
        let inner = self.lock();
        // Ids are increasing, so the deque is sorted by id.
        let index = inner.orders.binary_search_by_key(&id, |o| o.id).ok()?;
        inner.orders.get(index).cloned()
    }

    /// The newest `limit` orders, newest first.
    pub fn list(&self, limit: usize) -> Vec<Order> {
        self.lock().orders.iter().rev().take(limit).cloned().collect()
    }

    pub fn len(&self) -> usize {
        self.lock().orders.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new(item: &str, quantity: u64, unit_price_cents: u64) -> NewOrder {
        NewOrder { item: item.into(), quantity, unit_price_cents }
    }

    #[test]
    fn parses_a_valid_order() {
        let order = NewOrder::parse(br#"{"item": " widget ", "quantity": 3, "unit_price_cents": 1999}"#).unwrap();
        assert_eq!(order, new("widget", 3, 1999));
        assert_eq!(order.total_cents(), 5997);
    }

    #[test]
    fn rejects_invalid_orders_with_a_reason() {
        let cases: &[(&str, &str)] = &[
            (r#"{"quantity": 1, "unit_price_cents": 1}"#, "item is required"),
            (r#"{"item": "", "quantity": 1, "unit_price_cents": 1}"#, "item must not be empty"),
            (r#"{"item": "   ", "quantity": 1, "unit_price_cents": 1}"#, "item must not be empty"),
            (r#"{"item": 5, "quantity": 1, "unit_price_cents": 1}"#, "item must be a string"),
            (r#"{"item": "a\nb", "quantity": 1, "unit_price_cents": 1}"#, "control"),
            (r#"{"item": "a", "unit_price_cents": 1}"#, "quantity is required"),
            (r#"{"item": "a", "quantity": 0, "unit_price_cents": 1}"#, "quantity must be"),
            (r#"{"item": "a", "quantity": -2, "unit_price_cents": 1}"#, "quantity must be"),
            (r#"{"item": "a", "quantity": 1.5, "unit_price_cents": 1}"#, "quantity must be"),
            (r#"{"item": "a", "quantity": "2", "unit_price_cents": 1}"#, "quantity must be"),
            (r#"{"item": "a", "quantity": 1001, "unit_price_cents": 1}"#, "quantity must be"),
            (r#"{"item": "a", "quantity": 1}"#, "unit_price_cents is required"),
            (r#"{"item": "a", "quantity": 1, "unit_price_cents": 0}"#, "unit_price_cents must be"),
            (r#"{"item": "a", "quantity": 1, "unit_price_cents": 1000001}"#, "unit_price_cents must be"),
            (r#"{"item": "a", "quantity": 1, "unit_price_cents": 1, "x": 1}"#, "unknown field `x`"),
            (r#"["a", 1, 1]"#, "JSON object"),
            (r#"{"item": "a""#, "not valid JSON"),
        ];
        for (body, expected) in cases {
            let err = NewOrder::parse(body.as_bytes()).unwrap_err();
            assert!(err.contains(expected), "{body}: got {err:?}, want {expected:?}");
        }
        let long = format!(r#"{{"item": "{}", "quantity": 1, "unit_price_cents": 1}}"#, "x".repeat(101));
        assert!(NewOrder::parse(long.as_bytes()).unwrap_err().contains("at most 100"));
        let ok = format!(r#"{{"item": "{}", "quantity": 1, "unit_price_cents": 1}}"#, "é".repeat(100));
        assert!(NewOrder::parse(ok.as_bytes()).is_ok(), "100 multi-byte chars are allowed");
    }

    #[test]
    fn store_assigns_ids_lists_newest_first_and_gets() {
        let store = Store::new(10);
        assert!(store.is_empty());
        let a = store.create(new("a", 1, 100));
        let b = store.create(new("b", 2, 50));
        assert_eq!((a.id, b.id), (1, 2));
        assert_eq!(b.total_cents, 100);
        let listed: Vec<u64> = store.list(10).iter().map(|o| o.id).collect();
        assert_eq!(listed, [2, 1]);
        assert_eq!(store.list(1)[0].id, 2);
        assert_eq!(store.get(1).unwrap().item, "a");
        assert!(store.get(3).is_none());
        assert!(a.created_at.ends_with('Z'));
    }

    #[test]
    fn store_is_bounded_and_drops_the_oldest() {
        let store = Store::new(3);
        for i in 0..5 {
            store.create(new(&format!("item-{i}"), 1, 1));
        }
        assert_eq!(store.len(), 3);
        assert!(store.get(1).is_none());
        assert!(store.get(2).is_none());
        assert_eq!(store.get(3).unwrap().item, "item-2");
        let listed: Vec<u64> = store.list(100).iter().map(|o| o.id).collect();
        assert_eq!(listed, [5, 4, 3]);
    }
}
