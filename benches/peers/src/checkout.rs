//! The checkout workload: one web shop checkout request as OpenTelemetry
//! instrumentation would trace it, with no waiting, so that only the cost of
//! recording is left.
//!
//! Every request is the same tree of [`SPANS_PER_REQUEST`] spans carrying 10
//! to 19 attributes each (source location, thread, baggage entries, HTTP
//! headers, the full SQL of each query, the user agent), and
//! [`EVENTS_PER_REQUEST`] events, two of which carry a stack trace of about
//! 1.3 KB; the root span's status code is filled in with one `span.record`.
//! Only ids vary between requests, so every run records the same data.

use std::sync::OnceLock;

use tracing::{error, info, info_span, warn};

/// Spans one [`request`] opens (checked by a test).
pub const SPANS_PER_REQUEST: u64 = 268;
/// Events one [`request`] emits (checked by a test).
pub const EVENTS_PER_REQUEST: u64 = 36;
/// Items in every cart.
const ITEMS: u64 = 12;

const USER_AGENT: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) \
    Chrome/126.0.6478.126 Safari/537.36 ShopApp/4.12.0 (build 8812; channel stable)";
const BAGGAGE: &str = "tenant=acme-eu,region=eu-west-1,experiment=checkout-v3,ab.bucket=17,\
    session.id=8f2c9a1e-4b7d-4e11-9c3a-2d5e6f7a8b9c,loyalty.tier=gold,feature.flags=fast-pay;new-tax";
const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const TRACESTATE: &str = "acme=00f067aa0ba902b7,vendor2=t61rcWkgMzE,dd=s:1;o:rum;t.dm:-0";
const INTERNAL_AGENT: &str = "shop-internal-client/3.2.0 (reqwest 0.12; rustls)";

const SQL_SESSION: &str = "SELECT s.id, s.user_id, s.expires_at, s.scopes, u.email, u.locale, \
    u.status FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = $1 AND \
    s.expires_at > now() AND u.status = 'active' LIMIT 1";
const SQL_CART: &str = "SELECT ci.product_id, ci.quantity, ci.added_at, p.sku, p.title, \
    p.weight_grams, p.tax_class, p.list_price_cents FROM cart_items ci JOIN products p ON p.id = \
    ci.product_id WHERE ci.cart_id = (SELECT id FROM carts WHERE user_id = $1 AND status = 'open' \
    ORDER BY updated_at DESC LIMIT 1) ORDER BY ci.added_at";
const SQL_PRODUCT: &str = "SELECT p.id, p.sku, p.title, p.description, p.images, p.attributes, \
    p.list_price_cents, p.tax_class, p.weight_grams, p.dimensions FROM products p WHERE p.id = $1 \
    AND p.catalog = $2";
const SQL_STOCK: &str = "SELECT w.code, s.on_hand, s.reserved, s.reorder_point FROM stock s JOIN \
    warehouses w ON w.id = s.warehouse_id WHERE s.product_id = $1 AND w.region = $2 AND w.active \
    ORDER BY w.priority FOR UPDATE OF s SKIP LOCKED";
const SQL_TAX: &str = "SELECT tr.tax_class, tr.rate_bp, tr.valid_from, tr.valid_to FROM tax_rates \
    tr WHERE tr.country = $1 AND tr.region = $2 AND tr.valid_from <= now() AND (tr.valid_to IS \
    NULL OR tr.valid_to > now())";
const SQL_FRAUD: &str = "SELECT count(*) AS orders_24h, coalesce(sum(o.total_cents), 0) AS \
    spent_24h, max(o.created_at) AS last_order FROM orders o WHERE o.user_id = $1 AND \
    o.created_at > now() - interval '24 hours' AND o.status <> 'cancelled'";
const SQL_BEGIN: &str = "BEGIN ISOLATION LEVEL READ COMMITTED";
const SQL_ORDER: &str = "INSERT INTO orders (id, user_id, status, currency, subtotal_cents, \
    tax_cents, shipping_cents, discount_cents, total_cents, shipping_address_id, \
    billing_address_id, payment_intent_id, created_at) VALUES ($1, $2, 'pending', $3, $4, $5, $6, \
    $7, $8, $9, $10, $11, now()) RETURNING id, created_at";
const SQL_ITEM: &str = "INSERT INTO order_items (order_id, product_id, sku, quantity, \
    unit_price_cents, tax_cents, discount_cents) VALUES ($1, $2, $3, $4, $5, $6, $7)";
const SQL_COMMIT: &str = "COMMIT";
const SQL_DECREMENT: &str = "UPDATE stock SET on_hand = on_hand - $1, reserved = reserved - $1, \
    updated_at = now() WHERE product_id = $2 AND warehouse_id = $3 AND on_hand >= $1";
const SQL_AUDIT: &str = "INSERT INTO audit_log (actor_id, action, entity, entity_id, payload, \
    ip, user_agent, created_at) VALUES ($1, 'order.created', 'order', $2, $3, $4, $5, now())";
const SQL_LOYALTY: &str = "UPDATE loyalty_accounts SET points = points + $1, lifetime_points = \
    lifetime_points + $1, updated_at = now() WHERE user_id = $2 RETURNING points, tier";

/// A payment SDK's stack trace, about 1.3 KB, built once.
pub fn stack_trace() -> &'static str {
    static TRACE: OnceLock<String> = OnceLock::new();
    TRACE.get_or_init(|| {
        let frames = [
            "payment_gateway::client::Client::authorize::{{closure}}",
            "payment_gateway::retry::with_backoff",
            "payment_gateway::http::send_signed_request",
            "hyper::client::conn::http1::SendRequest::send_request",
            "tokio::runtime::task::core::Core<T,S>::poll",
            "checkout::payment::authorize_card",
            "checkout::payment::charge",
            "checkout::handler::post_checkout",
            "checkout::handler::post_checkout::{{closure}}",
            "tower::util::map_response::MapResponseFuture::poll",
            "axum::routing::Route::call",
            "tokio::runtime::scheduler::multi_thread::worker::Context::run_task",
            "std::sys::pal::unix::thread::Thread::new::thread_start",
        ];
        let mut s = String::from("provider timeout after 2000 ms\nstack backtrace:\n");
        for (i, f) in frames.iter().enumerate() {
            let module = f.split("::").nth(1).unwrap_or("main");
            s.push_str(&format!(
                "  {i:>2}: {f}\n             at /build/src/{module}.rs:{}:{}\n",
                40 + 7 * i,
                9 + i
            ));
        }
        s
    })
}

/// `info_span!` with what OpenTelemetry instrumentations put on every span:
/// source location, thread, and the request's baggage entries (8 fields with
/// `service`).
macro_rules! otel_span {
    ($name:expr, $service:expr, $($fields:tt)*) => {
        info_span!(
            $name,
            service = $service,
            code.filepath = file!(),
            code.lineno = line!(),
            code.function = module_path!(),
            thread.name = "tokio-runtime-worker",
            baggage.tenant = "acme-eu",
            baggage.session_id = "8f2c9a1e-4b7d-4e11-9c3a-2d5e6f7a8b9c",
            baggage.experiment = "checkout-v3",
            $($fields)*
        )
    };
}

/// A call to another service: a client span in the caller and a server span
/// in the callee (16 fields each), with `f` run inside the server span.
fn http_call(caller: &str, callee: &str, route: &'static str, url: &'static str, f: impl FnOnce()) {
    let client = otel_span!(
        "http.client",
        caller,
        http.request.method = "POST",
        url.full = url,
        server.address = callee,
        server.port = 8080u64,
        http.request.header.traceparent = TRACEPARENT,
        http.request.header.tracestate = TRACESTATE,
        http.request.header.baggage = BAGGAGE,
        user_agent.original = INTERNAL_AGENT,
    );
    let _c = client.enter();
    let server = otel_span!(
        "http.server",
        callee,
        http.request.method = "POST",
        http.route = route,
        url.path = route,
        client.address = "10.42.1.23",
        network.peer.address = "10.42.1.23",
        http.request.header.traceparent = TRACEPARENT,
        http.request.header.baggage = BAGGAGE,
        user_agent.original = INTERNAL_AGENT,
    );
    server.in_scope(f);
}

/// One query (17 fields); with `log`, a 3-field event when it returns.
fn db_query(table: &str, statement: &'static str, rows: u64, log: bool) {
    let span = otel_span!(
        "db.query",
        "db",
        db.system = "postgresql",
        db.name = "shop",
        db.operation = statement.split(' ').next().unwrap_or("SELECT"),
        db.sql.table = table,
        db.statement = statement,
        db.rows_affected = rows,
        net.peer.name = "pg-primary.shop.svc.cluster.local",
        net.peer.port = 5432u64,
        server.address = "10.42.7.19",
    );
    let _e = span.enter();
    if log {
        info!(
            db.response.returned_rows = rows,
            db.sql.table = table,
            elapsed_us = 180u64 + rows,
            "query done"
        );
    }
}

/// A cache lookup (15 fields); a miss is logged when `log` is set.
fn cache_get(namespace: &str, id: u64, hit: bool, log: bool) {
    let span = otel_span!(
        "cache.get",
        "cache",
        db.system = "redis",
        db.operation = "GET",
        cache.namespace = namespace,
        cache.key_id = id,
        cache.hit = hit,
        cache.ttl_s = 300u64,
        net.peer.port = 6379u64,
    );
    let _e = span.enter();
    if log && !hit {
        info!(cache.namespace = namespace, cache.key_id = id, "cache miss");
    }
}

/// A cache write (13 fields).
fn cache_set(namespace: &str, id: u64) {
    let span = otel_span!(
        "cache.set",
        "cache",
        db.system = "redis",
        db.operation = "SET",
        cache.namespace = namespace,
        cache.key_id = id,
        cache.ttl_s = 300u64,
    );
    let _e = span.enter();
}

/// A message to Kafka (12 fields).
fn kafka_produce(topic: &str, key: u64) {
    let span = otel_span!(
        "kafka.produce",
        "notification",
        messaging.system = "kafka",
        messaging.destination.name = topic,
        messaging.kafka.message.key = key,
        messaging.kafka.partition = key % 12,
    );
    let _e = span.enter();
}

/// One checkout request: [`SPANS_PER_REQUEST`] spans and
/// [`EVENTS_PER_REQUEST`] events; `r` makes the ids of this request.
pub fn request(r: u64) {
    let user = 10_000 + r % 997;
    let root = otel_span!(
        "http.server",
        "gateway",
        http.request.method = "POST",
        http.route = "/api/v1/checkout",
        url.path = "/api/v1/checkout",
        url.scheme = "https",
        client.address = "203.0.113.42",
        user_agent.original = USER_AGENT,
        http.request.header.baggage = BAGGAGE,
        http.request.header.traceparent = TRACEPARENT,
        request.id = r,
        http.response.status_code = tracing::field::Empty,
    );
    let _root = root.enter();
    info!(enduser.id = user, cart.items = ITEMS, "checkout received");

    auth(user);
    cart(user);
    inventory(r);
    pricing();
    promotions();
    shipping();
    payment(r, user);
    order(r);
    inventory_commit();
    cache_refresh();
    recommendations(user);
    analytics(r);
    notification(r);
    loyalty(user);
    audit(r);
    respond(r, user);

    root.record("http.response.status_code", 200u64);
}

fn auth(user: u64) {
    http_call(
        "gateway",
        "auth",
        "/v1/verify",
        "http://auth.shop.svc.cluster.local:8080/v1/verify",
        || {
            let span = otel_span!(
                "auth.verify_token",
                "auth",
                enduser.id = user,
                enduser.role = "customer",
                auth.method = "bearer",
                auth.issuer = "https://login.acme.example/realms/shop",
                auth.audience = "checkout-api",
                auth.scopes = "openid profile email orders:write payments:write",
                http.user_agent = USER_AGENT,
                baggage = BAGGAGE,
            );
            let _e = span.enter();
            cache_get("session", user, false, true);
            db_query("sessions", SQL_SESSION, 1, true);
            info!(enduser.id = user, auth.method = "bearer", "token verified");
        },
    );
}

fn cart(user: u64) {
    http_call(
        "gateway",
        "cart",
        "/v1/cart",
        "http://cart.shop.svc.cluster.local:8080/v1/cart",
        || {
            let span = otel_span!(
                "cart.load",
                "cart",
                enduser.id = user,
                cart.items = ITEMS,
                cart.currency = "EUR",
                http.user_agent = USER_AGENT,
                baggage = BAGGAGE,
            );
            let _e = span.enter();
            cache_get("cart", user, false, true);
            db_query("cart_items", SQL_CART, ITEMS, true);
            for id in 0..ITEMS {
                let item = otel_span!(
                    "cart.hydrate_item",
                    "cart",
                    product.id = 5_000 + id,
                    product.sku = "SKU-ACME-00017-BLK-M",
                    product.catalog = "eu-main",
                );
                let _i = item.enter();
                let hit = id % 3 != 0;
                cache_get("product", 5_000 + id, hit, false);
                if !hit {
                    db_query("products", SQL_PRODUCT, 1, false);
                }
            }
            info!(
                cart.items = ITEMS,
                cart.subtotal_cents = 30_588u64,
                "cart hydrated"
            );
        },
    );
}

fn inventory(r: u64) {
    http_call(
        "cart",
        "inventory",
        "/v1/reserve",
        "http://inventory.shop.svc.cluster.local:8080/v1/reserve",
        || {
            let span = otel_span!(
                "inventory.reserve",
                "inventory",
                inventory.warehouse = "FRA-2",
                inventory.items = ITEMS,
                inventory.strategy = "nearest-first",
            );
            let _e = span.enter();
            for id in 0..ITEMS {
                let check = otel_span!(
                    "inventory.check",
                    "inventory",
                    product.id = 5_000 + id,
                    product.sku = "SKU-ACME-00017-BLK-M",
                    inventory.warehouse = "FRA-2",
                    inventory.requested = 1 + id % 3,
                );
                let _c = check.enter();
                db_query("stock", SQL_STOCK, 1, false);
                if id == 7 {
                    warn!(
                        product.id = 5_000 + id,
                        stock.on_hand = 2u64,
                        request.id = r,
                        "low stock"
                    );
                }
            }
            info!(
                inventory.items = ITEMS,
                inventory.warehouse = "FRA-2",
                "stock reserved"
            );
        },
    );
}

fn pricing() {
    http_call(
        "gateway",
        "pricing",
        "/v1/quote",
        "http://pricing.shop.svc.cluster.local:8080/v1/quote",
        || {
            let span = otel_span!(
                "pricing.quote",
                "pricing",
                pricing.currency = "EUR",
                pricing.items = ITEMS,
                pricing.list = "eu-retail-2024",
            );
            let _e = span.enter();
            for id in 0..ITEMS {
                let item = otel_span!(
                    "pricing.item",
                    "pricing",
                    product.id = 5_000 + id,
                    pricing.list_price_cents = 1_999 + 100 * id,
                    pricing.tax_class = "standard",
                );
                let _i = item.enter();
                for (rule, kind) in ["volume", "member", "bundle", "clearance"]
                    .iter()
                    .enumerate()
                {
                    let r = otel_span!(
                        "pricing.rule",
                        "pricing",
                        pricing.rule.id = rule as u64,
                        pricing.rule.kind = *kind,
                        pricing.rule.matched = rule == 1,
                    );
                    let _r = r.enter();
                }
                if id % 6 == 5 {
                    info!(
                        product.id = 5_000 + id,
                        pricing.override_cents = 1_499u64,
                        "price override"
                    );
                }
            }
            let tax = otel_span!(
                "tax.compute",
                "pricing",
                tax.country = "DE",
                tax.region = "BE",
                tax.items = ITEMS,
            );
            let _t = tax.enter();
            db_query("tax_rates", SQL_TAX, 4, true);
            info!(
                pricing.subtotal_cents = 30_588u64,
                pricing.tax_cents = 5_812u64,
                "quote computed"
            );
        },
    );
}

fn promotions() {
    http_call(
        "gateway",
        "promotions",
        "/v1/evaluate",
        "http://promotions.shop.svc.cluster.local:8080/v1/evaluate",
        || {
            let span = otel_span!(
                "promo.evaluate",
                "promotions",
                promo.codes = "WELCOME10,FREESHIP",
                promo.candidates = 6u64,
                enduser.segment = "returning",
            );
            let _e = span.enter();
            for rule in 0..6u64 {
                let r = otel_span!(
                    "promo.rule",
                    "promotions",
                    promo.rule.id = 900 + rule,
                    promo.rule.priority = rule,
                    promo.rule.stackable = rule % 2 == 0,
                );
                let _r = r.enter();
                cache_get("promo", 900 + rule, true, false);
                if rule == 1 || rule == 4 {
                    info!(
                        promo.rule.id = 900 + rule,
                        promo.discount_cents = 500u64,
                        "promotion applied"
                    );
                }
            }
        },
    );
}

fn shipping() {
    http_call(
        "gateway",
        "shipping",
        "/v1/quote",
        "http://shipping.shop.svc.cluster.local:8080/v1/quote",
        || {
            let span = otel_span!(
                "shipping.quote",
                "shipping",
                shipping.country = "DE",
                shipping.weight_grams = 4_250u64,
                shipping.parcels = 2u64,
            );
            let _e = span.enter();
            for (i, carrier) in ["dhl", "ups", "dpd"].iter().enumerate() {
                http_call(
                    "shipping",
                    carrier,
                    "/rates",
                    "https://api.carrier.example/v2/rates?service=standard",
                    || {
                        let rate = otel_span!(
                            "carrier.rate",
                            "shipping",
                            carrier.name = *carrier,
                            carrier.service = "standard",
                            carrier.zone = "EU-1",
                        );
                        let _r = rate.enter();
                        info!(
                            carrier.name = *carrier,
                            rate_cents = 499u64 + 100 * i as u64,
                            "rate received"
                        );
                    },
                );
            }
            info!(
                carrier.name = "dhl",
                rate_cents = 499u64,
                "cheapest carrier chosen"
            );
        },
    );
}

fn payment(r: u64, user: u64) {
    http_call(
        "gateway",
        "payment",
        "/v1/charge",
        "http://payment.shop.svc.cluster.local:8080/v1/charge",
        || {
            let span = otel_span!(
                "payment.charge",
                "payment",
                payment.method = "card",
                payment.card.brand = "visa",
                payment.amount_cents = 35_899u64,
                payment.currency = "EUR",
                payment.idempotency_key = r,
            );
            let _e = span.enter();
            {
                let fraud = otel_span!(
                    "fraud.check",
                    "payment",
                    enduser.id = user,
                    fraud.model = "gbdt-2024-10",
                    fraud.threshold = 0.85,
                );
                let _f = fraud.enter();
                db_query("orders", SQL_FRAUD, 1, true);
                info!(
                    fraud.score = 0.12,
                    fraud.decision = "allow",
                    "fraud check passed"
                );
            }
            for attempt in 1..=2u64 {
                let auth = otel_span!(
                    "payment.authorize",
                    "payment",
                    payment.attempt = attempt,
                    payment.provider = "acme-pay",
                    payment.amount_cents = 35_899u64,
                );
                let _a = auth.enter();
                http_call(
                    "payment",
                    "acme-pay",
                    "/v3/authorizations",
                    "https://api.acme-pay.example/v3/authorizations",
                    || {},
                );
                if attempt == 1 {
                    error!(
                        exception.type = "ProviderTimeout",
                        exception.stacktrace = stack_trace(),
                        payment.attempt = attempt,
                        "authorization failed"
                    );
                    warn!(
                        exception.stacktrace = stack_trace(),
                        retry.backoff_ms = 200u64,
                        "circuit breaker half-open, retrying"
                    );
                } else {
                    info!(
                        payment.attempt = attempt,
                        payment.authorization = "auth_7Q9X3M5N",
                        "authorized"
                    );
                }
            }
        },
    );
}

fn order(r: u64) {
    http_call(
        "gateway",
        "orders",
        "/v1/orders",
        "http://orders.shop.svc.cluster.local:8080/v1/orders",
        || {
            let span = otel_span!(
                "order.create",
                "orders",
                order.id = r,
                order.items = ITEMS,
                order.total_cents = 35_899u64,
            );
            let _e = span.enter();
            db_query("orders", SQL_BEGIN, 0, false);
            db_query("orders", SQL_ORDER, 1, true);
            for _ in 0..ITEMS {
                db_query("order_items", SQL_ITEM, 1, false);
            }
            db_query("orders", SQL_COMMIT, 0, false);
            info!(order.id = r, order.status = "pending", "order created");
        },
    );
}

fn inventory_commit() {
    let span = otel_span!(
        "inventory.commit",
        "inventory",
        inventory.warehouse = "FRA-2",
        inventory.items = ITEMS,
        inventory.reservation = "res_01JD8ZK4W7",
    );
    let _e = span.enter();
    for _ in 0..ITEMS {
        db_query("stock", SQL_DECREMENT, 1, false);
    }
    info!(inventory.items = ITEMS, "stock committed");
}

fn cache_refresh() {
    for id in 0..ITEMS {
        cache_set("product", 5_000 + id);
    }
}

fn recommendations(user: u64) {
    http_call(
        "gateway",
        "reco",
        "/v1/similar",
        "http://reco.shop.svc.cluster.local:8080/v1/similar",
        || {
            let span = otel_span!(
                "reco.compute",
                "reco",
                enduser.id = user,
                reco.model = "two-tower-v7",
                reco.candidates = ITEMS,
            );
            let _e = span.enter();
            for id in 0..ITEMS {
                let c = otel_span!(
                    "reco.candidate",
                    "reco",
                    product.id = 7_000 + id,
                    reco.score = 0.5 + id as f64 / 100.0,
                    reco.source = "co-purchase",
                );
                let _c = c.enter();
                cache_get("embedding", 7_000 + id, true, false);
            }
            info!(reco.returned = 6u64, "recommendations ready");
        },
    );
}

fn analytics(r: u64) {
    let span = otel_span!(
        "analytics.batch",
        "analytics",
        analytics.events = ITEMS,
        analytics.sink = "clickstream",
        request.id = r,
    );
    let _e = span.enter();
    for id in 0..ITEMS {
        let t = otel_span!(
            "analytics.track",
            "analytics",
            analytics.event = "purchase_item",
            product.id = 5_000 + id,
            request.id = r,
        );
        let _t = t.enter();
    }
    kafka_produce("clickstream.v2", r);
    info!(analytics.events = ITEMS, "analytics flushed");
}

fn notification(r: u64) {
    http_call(
        "gateway",
        "notification",
        "/v1/send",
        "http://notification.shop.svc.cluster.local:8080/v1/send",
        || {
            let span = otel_span!(
                "notify.enqueue",
                "notification",
                notify.channels = "email,sms",
                notify.template = "order-confirmation",
                order.id = r,
            );
            let _e = span.enter();
            {
                let t = otel_span!(
                    "template.render",
                    "notification",
                    template.name = "order-confirmation",
                    template.locale = "de-DE",
                    template.version = 14u64,
                );
                let _t = t.enter();
            }
            kafka_produce("notifications.email", r);
            info!(notify.channel = "email", order.id = r, "email queued");
            kafka_produce("notifications.sms", r);
            info!(notify.channel = "sms", order.id = r, "sms queued");
        },
    );
}

fn loyalty(user: u64) {
    http_call(
        "gateway",
        "loyalty",
        "/v1/accrue",
        "http://loyalty.shop.svc.cluster.local:8080/v1/accrue",
        || {
            let span = otel_span!(
                "loyalty.accrue",
                "loyalty",
                enduser.id = user,
                loyalty.tier = "gold",
                loyalty.points = 358u64,
            );
            let _e = span.enter();
            db_query("loyalty_accounts", SQL_LOYALTY, 1, true);
            info!(
                loyalty.points = 358u64,
                loyalty.tier = "gold",
                "points accrued"
            );
        },
    );
}

fn audit(r: u64) {
    let span = otel_span!(
        "audit.write",
        "audit",
        audit.action = "order.created",
        audit.entity = "order",
        audit.entity_id = r,
    );
    let _e = span.enter();
    db_query("audit_log", SQL_AUDIT, 1, false);
    info!(
        audit.entity_id = r,
        audit.action = "order.created",
        "audit written"
    );
}

fn respond(r: u64, user: u64) {
    {
        let s = otel_span!(
            "session.update",
            "gateway",
            enduser.id = user,
            session.ttl_s = 1_800u64,
            session.store = "redis",
        );
        let _s = s.enter();
        info!(
            enduser.id = user,
            session.ttl_s = 1_800u64,
            "session extended"
        );
    }
    cache_set("last_order", user);
    let span = otel_span!(
        "response.render",
        "gateway",
        http.response.content_type = "application/json",
        http.response.body.size = 2_048u64,
        order.id = r,
    );
    let _e = span.enter();
    info!(
        http.response.status_code = 200u64,
        order.id = r,
        "response sent"
    );
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    use tracing::Subscriber;
    use tracing::field::{Field, Visit};
    use tracing::span::{Attributes, Id, Record};
    use tracing_subscriber::layer::{Context, Layer};
    use tracing_subscriber::prelude::*;

    use super::*;

    #[derive(Default)]
    struct Counts {
        spans: AtomicU64,
        events: AtomicU64,
        records: AtomicU64,
        min_fields: AtomicU64,
        max_fields: AtomicU64,
        long_events: AtomicU64,
    }

    struct Counter(Arc<Counts>);

    /// The longest string value of an event.
    struct Longest(usize);
    impl Visit for Longest {
        fn record_debug(&mut self, _: &Field, _: &dyn std::fmt::Debug) {}
        fn record_str(&mut self, _: &Field, value: &str) {
            self.0 = self.0.max(value.len());
        }
    }

    impl<S: Subscriber> Layer<S> for Counter {
        fn on_new_span(&self, attrs: &Attributes<'_>, _: &Id, _: Context<'_, S>) {
            // Declared fields: the status code is declared empty and
            // recorded later.
            let declared = attrs.metadata().fields().len() as u64;
            self.0.spans.fetch_add(1, Ordering::Relaxed);
            self.0.min_fields.fetch_min(declared, Ordering::Relaxed);
            self.0.max_fields.fetch_max(declared, Ordering::Relaxed);
        }
        fn on_record(&self, _: &Id, _: &Record<'_>, _: Context<'_, S>) {
            self.0.records.fetch_add(1, Ordering::Relaxed);
        }
        fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
            let mut longest = Longest(0);
            event.record(&mut longest);
            self.0.events.fetch_add(1, Ordering::Relaxed);
            if longest.0 > 1_000 {
                self.0.long_events.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    #[test]
    fn one_request_has_the_documented_shape() {
        let counts = Arc::new(Counts {
            min_fields: AtomicU64::new(u64::MAX),
            ..Counts::default()
        });
        let sub = tracing_subscriber::registry().with(Counter(Arc::clone(&counts)));
        tracing::subscriber::with_default(sub, || request(3));
        assert_eq!(counts.spans.load(Ordering::Relaxed), SPANS_PER_REQUEST);
        assert_eq!(counts.events.load(Ordering::Relaxed), EVENTS_PER_REQUEST);
        assert_eq!(counts.records.load(Ordering::Relaxed), 1);
        assert_eq!(counts.long_events.load(Ordering::Relaxed), 2);
        assert!(counts.min_fields.load(Ordering::Relaxed) >= 10);
        assert!(counts.max_fields.load(Ordering::Relaxed) <= 19);
    }

    #[test]
    fn the_stack_trace_is_about_1_3_kb() {
        let n = stack_trace().len();
        assert!((1_200..=1_400).contains(&n), "{n} bytes");
    }
}
