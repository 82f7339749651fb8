//! The OVH simulator's order API (`../shared/reference/ovh-order.md`): the legacy
//! per-option route for the older VPS ranges, the cart route for the newer ones (a VPS whose
//! model is named by a year), `GET /me` and the orders created (`/me/order`). An order is
//! recorded, never paid; the option stays as it was.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::{Fail, State};
use crate::model::order::VpsOption;
use crate::sim::estate::{self, CONTRACTS, SimOrder, price_list};

/// A cart: its items (VPS, plan, duration) and whether it was assigned to the account.
#[derive(Default)]
pub(super) struct Cart {
    items: Vec<(String, VpsOption, String)>,
    assigned: bool,
}

/// The carts made so far, by id.
pub(super) type Carts = std::sync::Mutex<HashMap<String, Cart>>;

fn option_named(name: &str) -> Option<VpsOption> {
    VpsOption::ALL.into_iter().find(|o| o.api() == name)
}

fn price(text: &str) -> Value {
    let value: f64 = text.trim_end_matches(" €").parse().unwrap_or_default();
    json!({"currencyCode": "EUR", "text": text, "value": value})
}

/// `order.Order`, without `orderId` and `url` for a quote.
fn order_json(option: VpsOption, duration: &str, made: Option<&SimOrder>) -> Value {
    let (_, with_tax, without_tax) = price_list(option)
        .into_iter()
        .find(|(d, _, _)| *d == duration)
        .unwrap_or_default();
    let mut v = json!({
        "contracts": CONTRACTS.iter().map(|(name, url)| json!({
            "name": name, "url": url, "content": format!("{name}: the simulator's text."),
        })).collect::<Vec<_>>(),
        "details": [{
            "description": format!("{} option for VPS", option.api()),
            "domain": made.map(|o| o.machine_id.clone()),
            "quantity": "1",
            "unitPrice": price(without_tax),
            "totalPrice": price(without_tax),
        }],
        "prices": {
            "withTax": price(with_tax),
            "withoutTax": price(without_tax),
            "tax": price("0.00 €"),
        },
    });
    if let Some(o) = made {
        v["orderId"] = json!(o.order_id);
        v["url"] = json!(o.url);
    }
    v
}

impl State {
    /// A route under `/order` or `/me`, or `None` when it is none of them.
    pub(super) fn order_route(
        &self,
        method: &str,
        segs: &[&str],
        body: &dyn Fn() -> Result<Value, Fail>,
    ) -> Option<Result<Value, Fail>> {
        Some(match (method, segs) {
            ("GET", ["me"]) => Ok(json!({"nichandle": "sim-ovh", "ovhSubsidiary": "FR"})),
            ("GET", ["me", "order"]) => Ok(json!(
                self.estate
                    .orders()
                    .iter()
                    .map(|o| o.order_id)
                    .collect::<Vec<_>>()
            )),
            ("GET", ["me", "order", id]) => self.order_of(id),
            ("GET", ["order", "vps", sn]) => self.legacy(sn).map(|m| {
                let mut names: Vec<&str> = VpsOption::ALL
                    .into_iter()
                    .filter(|o| o.subscribed(&m) != Some(true))
                    .map(VpsOption::api)
                    .collect();
                names.push("additionalDisk");
                json!(names)
            }),
            ("GET", ["order", "vps", sn, option]) => self
                .legacy_option(sn, option)
                .map(|o| json!(price_list(o).iter().map(|p| p.0).collect::<Vec<_>>())),
            ("GET", ["order", "vps", sn, option, duration]) => self
                .legacy_option(sn, option)
                .and_then(|o| offered(o, duration).map(|()| order_json(o, duration, None))),
            ("POST", ["order", "vps", sn, option, duration]) => {
                self.legacy_option(sn, option).and_then(|o| {
                    offered(o, duration)?;
                    let made = self.estate.order(&self.profile, sn, o, duration, false)?;
                    Ok(order_json(o, duration, Some(&made)))
                })
            }
            ("GET", ["order", "cartServiceOption", "vps", sn]) => self.catalogue(sn),
            ("POST", ["order", "cart"]) => body().map(|b| {
                let id = format!("sim-cart-{}", self.next_query());
                self.carts
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(id.clone(), Cart::default());
                json!({"cartId": id, "description": b["description"], "items": [], "readOnly": false})
            }),
            ("POST", ["order", "cartServiceOption", "vps", sn]) => {
                body().and_then(|b| self.add_to_cart(sn, &b))
            }
            ("POST", ["order", "cart", id, "assign"]) => self.with_cart(id, |c| {
                c.assigned = true;
                Ok(Value::Null)
            }),
            ("POST", ["order", "cart", id, "checkout"]) => body().and_then(|b| self.checkout(id, &b)),
            (_, ["order", ..] | ["me", ..]) => Err(Fail::new(404, None, "Got an invalid (or empty) URL")),
            _ => return None,
        })
    }

    fn next_query(&self) -> u64 {
        self.queries
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
    }

    fn order_of(&self, id: &str) -> Result<Value, Fail> {
        let o = self
            .estate
            .orders()
            .into_iter()
            .find(|o| o.order_id.to_string() == id)
            .ok_or_else(|| Fail::not_found(&format!("orderId = {id}")))?;
        Ok(json!({
            "orderId": o.order_id,
            "date": self.server_now().to_rfc3339(),
            "url": o.url,
            "priceWithTax": price(&o.with_tax),
            "retractionDate": null,
            "details": format!("{} {} {}", o.machine_id, o.option.api(), o.duration),
        }))
    }

    /// The VPS, on the legacy route: a VPS of a newer range answers 404 there.
    fn legacy(&self, sn: &str) -> Result<crate::model::Machine, Fail> {
        let m = self.machine(sn)?;
        if estate::orders_through_cart(&m) {
            return Err(Fail::not_found(&format!("serviceName = {sn}")));
        }
        Ok(m)
    }

    fn legacy_option(&self, sn: &str, option: &str) -> Result<VpsOption, Fail> {
        let m = self.legacy(sn)?;
        let o = option_named(option).ok_or_else(|| Fail::not_found(option))?;
        if o.subscribed(&m) == Some(true) {
            return Err(Fail::new(
                400,
                None,
                format!("The option {option} is already subscribed on {sn}"),
            ));
        }
        Ok(o)
    }

    /// `GET /order/cartServiceOption/vps/{sn}`: the options of a newer range's VPS.
    fn catalogue(&self, sn: &str) -> Result<Value, Fail> {
        let m = self.machine(sn)?;
        Ok(json!(
            VpsOption::ALL
                .into_iter()
                .filter(|o| o.subscribed(&m) != Some(true))
                .map(|o| json!({
                    "planCode": plan_code(o),
                    "family": o.api(),
                    "productName": format!("{} option", o.api()),
                    "productType": "delivery",
                    "mandatory": false,
                    "exclusive": true,
                    "prices": price_list(o).iter().map(|(d, with_tax, _)| json!({
                        "capacities": ["renew"],
                        "description": format!("{d} {} option", o.api()),
                        "duration": d,
                        "interval": 1,
                        "maximumQuantity": 1,
                        "minimumQuantity": 1,
                        "price": price(with_tax),
                        "priceInUcents": 0,
                        "pricingMode": "default",
                        "pricingType": "rental",
                    })).collect::<Vec<_>>(),
                }))
                .collect::<Vec<_>>()
        ))
    }

    fn add_to_cart(&self, sn: &str, b: &Value) -> Result<Value, Fail> {
        let m = self.machine(sn)?;
        let field = |k: &str| {
            b[k].as_str()
                .map(String::from)
                .ok_or_else(|| Fail::new(400, None, format!("Missing parameter: {k}")))
        };
        let (cart, plan, duration) = (field("cartId")?, field("planCode")?, field("duration")?);
        let option = VpsOption::ALL
            .into_iter()
            .find(|o| plan_code(*o) == plan)
            .ok_or_else(|| Fail::new(400, None, format!("Invalid planCode: {plan}")))?;
        if option.subscribed(&m) == Some(true) {
            return Err(Fail::new(
                400,
                None,
                format!("{plan} is already subscribed on {sn}"),
            ));
        }
        offered(option, &duration)?;
        self.with_cart(&cart, |c| {
            c.items.push((sn.to_string(), option, duration.clone()));
            Ok(json!({"cartId": cart, "itemId": c.items.len(), "settings": {"planCode": plan}}))
        })
    }

    fn with_cart(
        &self,
        id: &str,
        f: impl FnOnce(&mut Cart) -> Result<Value, Fail>,
    ) -> Result<Value, Fail> {
        let mut carts = self.carts.lock().unwrap_or_else(|p| p.into_inner());
        let cart = carts
            .get_mut(id)
            .ok_or_else(|| Fail::not_found(&format!("cartId = {id}")))?;
        f(cart)
    }

    /// `POST /order/cart/{id}/checkout`: the order, for an assigned cart of one item. The
    /// simulator never pays: asking it to is refused.
    fn checkout(&self, id: &str, b: &Value) -> Result<Value, Fail> {
        if b["autoPayWithPreferredPaymentMethod"].as_bool() != Some(false) {
            return Err(Fail::new(
                400,
                None,
                "the simulator never pays: send autoPayWithPreferredPaymentMethod false",
            ));
        }
        let (sn, option, duration) = {
            let carts = self.carts.lock().unwrap_or_else(|p| p.into_inner());
            let cart = carts
                .get(id)
                .ok_or_else(|| Fail::not_found(&format!("cartId = {id}")))?;
            if !cart.assigned {
                return Err(Fail::new(
                    400,
                    None,
                    "This cart is not assigned to an account",
                ));
            }
            cart.items
                .first()
                .cloned()
                .ok_or_else(|| Fail::new(400, None, "This cart is empty"))?
        };
        let made = self
            .estate
            .order(&self.profile, &sn, option, &duration, true)?;
        Ok(order_json(option, &duration, Some(&made)))
    }
}

/// `duration` is one the option is offered for.
fn offered(option: VpsOption, duration: &str) -> Result<(), Fail> {
    price_list(option)
        .iter()
        .any(|p| p.0 == duration)
        .then_some(())
        .ok_or_else(|| Fail::new(400, None, format!("Invalid duration: {duration}")))
}

/// A cart plan's code in the simulator.
fn plan_code(o: VpsOption) -> String {
    format!("vps-option-{}", o.api().to_ascii_lowercase())
}
