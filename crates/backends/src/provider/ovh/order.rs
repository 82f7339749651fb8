//! Ordering a VPS option through the OVHcloud order API (`../shared/reference/ovh-order.md`,
//! docs/backups.md "Ordering an option"): the legacy per-option route, or the cart route of
//! newer offers where the legacy one does not offer the option. An order is created for
//! the account to pay; nothing here pays (`autoPayWithPreferredPaymentMethod: false`).

use serde::Deserialize;
use serde_json::json;

use super::client::{OvhClient, seg};
use crate::model::order::{Contract, OptionOrder, Quote, Route, VpsOption};
use crate::provider::ProviderError;

#[derive(Debug, Deserialize)]
struct WirePrice {
    #[serde(default)]
    text: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WirePrices {
    #[serde(default)]
    with_tax: Option<WirePrice>,
    #[serde(default)]
    without_tax: Option<WirePrice>,
}

#[derive(Debug, Deserialize)]
struct WireContract {
    #[serde(default)]
    name: String,
    #[serde(default)]
    url: String,
}

/// `order.Order`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireOrder {
    #[serde(default)]
    contracts: Vec<WireContract>,
    #[serde(default)]
    prices: Option<WirePrices>,
    #[serde(default)]
    order_id: Option<i64>,
    #[serde(default)]
    url: Option<String>,
}

/// One option of `GET /order/cartServiceOption/vps/{serviceName}`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireCartOption {
    #[serde(default)]
    plan_code: String,
    #[serde(default)]
    family: String,
    #[serde(default)]
    prices: Vec<WireCartPrice>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireCartPrice {
    #[serde(default)]
    duration: String,
    #[serde(default)]
    price: Option<WirePrice>,
    #[serde(default)]
    pricing_mode: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireCart {
    cart_id: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireMe {
    #[serde(default)]
    ovh_subsidiary: Option<String>,
}

/// An order created: its id and where it is paid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Created {
    /// The order's id.
    pub order_id: i64,
    /// Where the account pays it. Foreign text.
    pub url: String,
}

/// What a run says of an order it created (`model::order::created_note`).
pub fn created_note(c: &Created) -> String {
    crate::model::order::created_note(c.order_id, &c.url)
}

fn quote(duration: &str, o: WireOrder) -> Quote {
    let text = |p: Option<&WirePrice>| p.and_then(|p| p.text.clone());
    let prices = o.prices.as_ref();
    Quote {
        duration: duration.to_string(),
        with_tax: text(prices.and_then(|p| p.with_tax.as_ref())).unwrap_or_else(|| "?".into()),
        without_tax: text(prices.and_then(|p| p.without_tax.as_ref())),
        contracts: o
            .contracts
            .into_iter()
            .map(|c| Contract {
                name: c.name,
                url: c.url,
            })
            .collect(),
        route: Route::Legacy,
    }
}

/// Whether a cart option is `option` (its family, else its plan's code, names it).
fn is_option(o: &WireCartOption, option: VpsOption) -> bool {
    let api = option.api().to_ascii_lowercase();
    o.family.to_ascii_lowercase() == api || o.plan_code.to_ascii_lowercase().contains(&api)
}

/// What ordering `option` for VPS `sn` would cost, per duration: the legacy route when it
/// offers the option, else the cart's catalogue.
pub async fn quotes(
    client: &OvhClient,
    sn: &str,
    option: VpsOption,
) -> Result<Vec<Quote>, ProviderError> {
    let base = format!("/order/vps/{}", seg(sn));
    let offered: Option<Vec<String>> = client.get_opt(&base).await?;
    if offered.is_some_and(|o| o.iter().any(|x| x == option.api())) {
        let path = format!("{base}/{}", option.api());
        let durations: Vec<String> = client.get(&path).await?;
        let mut out = Vec::new();
        for d in durations {
            let o: WireOrder = client.get(&format!("{path}/{}", seg(&d))).await?;
            out.push(quote(&d, o));
        }
        return Ok(out);
    }
    let catalogue: Vec<WireCartOption> = client
        .get(&format!("/order/cartServiceOption/vps/{}", seg(sn)))
        .await?;
    Ok(catalogue
        .into_iter()
        .filter(|o| is_option(o, option))
        .flat_map(|o| {
            let plan_code = o.plan_code.clone();
            o.prices.into_iter().map(move |p| Quote {
                duration: p.duration,
                with_tax: p.price.and_then(|x| x.text).unwrap_or_else(|| "?".into()),
                without_tax: None,
                contracts: Vec::new(),
                route: Route::Cart {
                    plan_code: plan_code.clone(),
                    pricing_mode: p.pricing_mode,
                },
            })
        })
        .collect())
}

/// Create the order `o` describes for VPS `sn` (never paid). Each POST is sent once.
pub async fn create(
    client: &OvhClient,
    sn: &str,
    o: &OptionOrder,
) -> Result<Created, ProviderError> {
    let q = o.quote().ok_or_else(|| {
        ProviderError::InvalidState(format!("{} is not a duration offered", o.duration))
    })?;
    let made: WireOrder = match &q.route {
        Route::Legacy => {
            let path = format!(
                "/order/vps/{}/{}/{}",
                seg(sn),
                o.option.api(),
                seg(&q.duration)
            );
            client.post(&path, None).await?
        }
        Route::Cart {
            plan_code,
            pricing_mode,
        } => {
            let me: WireMe = client.get("/me").await?;
            let subsidiary = me.ovh_subsidiary.unwrap_or_else(|| "FR".into());
            let cart: WireCart = client
                .post(
                    "/order/cart",
                    Some(&json!({"ovhSubsidiary": subsidiary, "description": "snaptree"})),
                )
                .await?;
            let id = seg(&cart.cart_id);
            let _: serde_json::Value = client
                .post(
                    &format!("/order/cartServiceOption/vps/{}", seg(sn)),
                    Some(&json!({
                        "cartId": cart.cart_id,
                        "duration": q.duration,
                        "planCode": plan_code,
                        "pricingMode": pricing_mode,
                        "quantity": 1,
                    })),
                )
                .await?;
            client
                .call(
                    reqwest::Method::POST,
                    &format!("/order/cart/{id}/assign"),
                    None,
                )
                .await?;
            client
                .post(
                    &format!("/order/cart/{id}/checkout"),
                    Some(&json!({
                        "autoPayWithPreferredPaymentMethod": false,
                        "waiveRetractationPeriod": false,
                    })),
                )
                .await?
        }
    };
    match (made.order_id, made.url) {
        (Some(order_id), Some(url)) => Ok(Created { order_id, url }),
        _ => Err(ProviderError::Backend(
            "the order API answered without an order id and its URL: look in the OVHcloud Manager before ordering again".into(),
        )),
    }
}
