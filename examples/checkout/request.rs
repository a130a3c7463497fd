//! The demo's checkout request, instrumented with `tracing` the way an
//! OTel-minded service would be. Shared by the demo (`main.rs`) and the
//! reader bench (`benches/reader.rs`), which traces the same request.

use std::thread;
use std::time::Duration;

use tracing::{Span, error, info, info_span, warn};

const USER_AGENT: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 \
    (KHTML, like Gecko) Version/17.5 Safari/605.1.15 ShopApp/4.12.0 (build 8812; channel stable)";
const BAGGAGE: &str = "tenant=acme-eu,region=eu-west-1,experiment=checkout-v3,ab.bucket=17,\
    session.id=8f2c9a1e-4b7d-4e11-9c3a-2d5e6f7a8b9c,loyalty.tier=gold,feature.flags=fast-pay;new-tax";
const TRACE_STATE: &str = "acme=00f067aa0ba902b7,vendor2=t61rcWkgMzE,dd=s:1;o:rum;t.dm:-0";

/// A stack trace like the ones payment providers' SDKs attach to errors.
fn stack_trace(what: &str) -> String {
    let mut s = format!("{what}\nstack backtrace:\n");
    let frames = [
        "payment_gateway::client::Client::authorize::{{closure}}",
        "payment_gateway::retry::with_backoff",
        "payment_gateway::http::send_signed_request",
        "hyper::client::conn::http1::SendRequest::send_request",
        "tokio::runtime::task::core::Core<T,S>::poll",
        "checkout::payment::authorize_card",
        "checkout::payment::charge",
        "checkout::handler::post_checkout",
        "axum::routing::Route::call",
        "tower::util::map_response::MapResponseFuture::poll",
        "tokio::runtime::scheduler::multi_thread::worker::Context::run_task",
        "std::sys::thread::unix::Thread::new::thread_start",
    ];
    for (i, f) in frames.iter().enumerate() {
        s.push_str(&format!(
            "  {i:>2}: {f}\n             at /build/src/{}.rs:{}:{}\n",
            f.split("::").nth(1).unwrap_or("main"),
            40 + 7 * i,
            9 + i
        ));
    }
    s
}

/// `info_span!` plus what OpenTelemetry instrumentations stamp on every
/// span: source location (code.*), the thread, and the request's baggage
/// entries copied onto the span (as a baggage span processor does).
macro_rules! otel_span {
    ($name:expr, $($fields:tt)*) => {
        info_span!(
            $name,
            code.filepath = file!(),
            code.lineno = line!(),
            code.function = module_path!(),
            thread.name = thread::current().name().unwrap_or("worker"),
            baggage.tenant = "acme-eu",
            baggage.session_id = "8f2c9a1e-4b7d-4e11-9c3a-2d5e6f7a8b9c",
            baggage.experiment = "checkout-v3",
            $($fields)*
        )
    };
}

/// `f`, to run on another thread under this thread's subscriber, as an
/// instrumented executor would carry it (the current subscriber is not
/// always the global one: the reader bench scopes it).
fn traced<T>(f: impl FnOnce() -> T + Send) -> impl FnOnce() -> T + Send {
    let dispatch = tracing::dispatcher::get_default(Clone::clone);
    move || tracing::dispatcher::with_default(&dispatch, f)
}

fn work(us: u64) {
    thread::sleep(Duration::from_micros(us));
}

/// A call to another service over HTTP, as OpenTelemetry records it: a
/// client span in the caller and a server span in the callee, each with the
/// request's URL, headers and peer, then `f` runs inside the server span.
fn http_call<R>(caller: &str, callee: &str, method: &str, route: &str, f: impl FnOnce() -> R) -> R {
    let url = format!("http://{callee}.shop.svc.cluster.local:8080{route}");
    let client = otel_span!(
        "http.client",
        service = caller,
        http.request.method = method,
        url.full = url.as_str(),
        server.address = format!("{callee}.shop.svc.cluster.local").as_str(),
        server.port = 8080u64,
        network.protocol.version = "1.1",
        http.request.header.traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        http.request.header.tracestate = TRACE_STATE,
        http.request.header.baggage = BAGGAGE,
        http.request.header.x_request_id = "req_01JD8ZK4W7Q9X3M5N2B6V8C1T0",
        http.request.header.accept = "application/json, application/problem+json;q=0.9",
        user_agent.original = "shop-internal-client/3.2.0 (reqwest 0.12; rustls)",
        http.response.status_code = tracing::field::Empty,
    );
    let _c = client.enter();
    let server = otel_span!(
        "http.server",
        service = callee,
        http.request.method = method,
        http.route = route,
        url.path = route,
        url.scheme = "http",
        client.address = "10.42.1.23",
        network.peer.address = "10.42.1.23",
        http.request.header.traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        http.request.header.baggage = BAGGAGE,
        http.request.header.x_request_id = "req_01JD8ZK4W7Q9X3M5N2B6V8C1T0",
        http.request.header.content_type = "application/json; charset=utf-8",
        user_agent.original = "shop-internal-client/3.2.0 (reqwest 0.12; rustls)",
        http.response.status_code = tracing::field::Empty,
    );
    let out = server.in_scope(f);
    server.record("http.response.status_code", 200u64);
    client.record("http.response.status_code", 200u64);
    out
}

fn db_query(table: &str, statement: &str, rows: u64, us: u64) {
    let span = otel_span!(
        "db.query",
        service = "db",
        db.system = "postgresql",
        db.name = "shop",
        db.user = "checkout_svc",
        db.operation = statement.split_whitespace().next().unwrap_or("SELECT"),
        db.sql.table = table,
        db.statement = statement,
        db.rows_affected = rows,
        net.peer.name = "pg-primary.shop.svc.cluster.local",
        net.peer.port = 5432u64,
        net.transport = "ip_tcp",
        db.connection_string = "postgresql://pg-primary.shop.svc.cluster.local:5432/shop?sslmode=verify-full&application_name=checkout",
        server.address = "10.42.7.19",
        thread.name = "tokio-runtime-worker",
        code.namespace = "checkout::repository",
    );
    let _e = span.enter();
    work(us);
    info!(
        db.response.returned_rows = rows,
        db.sql.table = table,
        elapsed_us = us,
        "query done"
    );
}

fn cache_get(key: &str, hit: bool) {
    let span = otel_span!(
        "cache.get",
        service = "cache",
        db.system = "redis",
        db.operation = "GET",
        db.redis.database_index = 3u64,
        cache.key = key,
        cache.hit = hit,
        cache.ttl_s = 300u64,
        server.address = "10.42.3.11",
        net.peer.name = "redis-cache.shop.svc.cluster.local",
        net.peer.port = 6379u64,
        db.statement = format!("GET {key}").as_str(),
        code.namespace = "checkout::cache",
    );
    let _e = span.enter();
    work(40);
    if !hit {
        info!(cache.key = key, "cache miss");
    }
}

fn auth(user: &str) {
    let span = otel_span!(
        "auth.verify_token",
        service = "auth",
        enduser.id = user,
        enduser.role = "customer",
        auth.method = "bearer",
        auth.issuer = "https://login.acme.example/realms/shop",
        auth.audience = "checkout-api",
        auth.scopes = "openid profile email orders:write payments:write",
        token.kid = "2024-11-rotation-b",
        http.user_agent = USER_AGENT,
        baggage = BAGGAGE,
    );
    let _e = span.enter();
    cache_get(&format!("session:{user}"), false);
    db_query(
        "sessions",
        "SELECT s.id, s.user_id, s.expires_at, s.scopes, u.email, u.locale, u.status FROM sessions s \
         JOIN users u ON u.id = s.user_id WHERE s.token_hash = $1 AND s.expires_at > now() AND u.status = 'active' LIMIT 1",
        1,
        300,
    );
    info!(enduser.id = user, "token verified");
}

fn load_cart(user: &str, items: &[(u64, &str)]) {
    let span = otel_span!(
        "cart.load",
        service = "cart",
        enduser.id = user,
        cart.items = items.len() as u64,
        cart.currency = "EUR",
        http.user_agent = USER_AGENT,
        baggage = BAGGAGE,
        code.namespace = "checkout::cart",
    );
    let _e = span.enter();
    cache_get(&format!("cart:{user}"), false);
    db_query(
        "cart_items",
        "SELECT ci.product_id, ci.quantity, ci.added_at, p.sku, p.title, p.weight_grams, p.tax_class, \
         p.list_price_cents FROM cart_items ci JOIN products p ON p.id = ci.product_id WHERE ci.cart_id = \
         (SELECT id FROM carts WHERE user_id = $1 AND status = 'open' ORDER BY updated_at DESC LIMIT 1) ORDER BY ci.added_at",
        items.len() as u64,
        500,
    );
    for (id, sku) in items {
        let s = otel_span!(
            "cart.hydrate_item",
            service = "cart",
            product.id = *id,
            product.sku = *sku,
            product.catalog = "eu-main",
            code.namespace = "checkout::cart",
        );
        let _e = s.enter();
        cache_get(&format!("product:{id}"), id % 3 != 0);
        if id % 3 == 0 {
            db_query(
                "products",
                "SELECT p.id, p.sku, p.title, p.description, p.images, p.attributes, p.list_price_cents, \
                 p.tax_class, p.weight_grams, p.dimensions FROM products p WHERE p.id = $1 AND p.catalog = $2",
                1,
                150,
            );
        }
    }
}

fn check_stock(id: u64, sku: &str, warehouse: &str) {
    let span = otel_span!(
        "inventory.check",
        service = "inventory",
        product.id = id,
        product.sku = sku,
        inventory.warehouse = warehouse,
        inventory.reserved = false,
        code.namespace = "checkout::inventory",
    );
    let _e = span.enter();
    cache_get(&format!("stock:{warehouse}:{id}"), id % 2 == 0);
    db_query(
        "stock_levels",
        "SELECT sl.available, sl.reserved, sl.incoming, sl.next_delivery_at FROM stock_levels sl \
         WHERE sl.product_id = $1 AND sl.warehouse_id = (SELECT id FROM warehouses WHERE code = $2) FOR SHARE",
        1,
        200,
    );
    db_query(
        "stock_reservations",
        "INSERT INTO stock_reservations (product_id, warehouse_id, quantity, expires_at, order_ref) \
         VALUES ($1, (SELECT id FROM warehouses WHERE code = $2), $3, now() + interval '15 minutes', $4) RETURNING id",
        1,
        150,
    );
    span.record("inventory.reserved", true);
}

fn inventory(items: &[(u64, &str)]) {
    let span = otel_span!(
        "inventory.reserve_all",
        service = "inventory",
        inventory.items = items.len() as u64,
        inventory.strategy = "nearest-warehouse",
        baggage = BAGGAGE,
        code.namespace = "checkout::inventory",
    );
    let _e = span.enter();
    // Two workers check stock in parallel, each in the request's context.
    let parent = Span::current();
    thread::scope(|s| {
        for (w, chunk) in items.chunks(items.len().div_ceil(2)).enumerate() {
            let parent = parent.clone();
            s.spawn(traced(move || {
                let _p = parent.enter();
                let warehouse = if w == 0 { "AMS-1" } else { "FRA-2" };
                for (id, sku) in chunk {
                    check_stock(*id, sku, warehouse);
                }
            }));
        }
    });
}

fn pricing(items: &[(u64, &str)]) -> u64 {
    let span = otel_span!(
        "pricing.quote",
        service = "pricing",
        pricing.currency = "EUR",
        pricing.rules_version = "2026-11-03.2",
        pricing.total_cents = tracing::field::Empty,
        baggage = BAGGAGE,
        code.namespace = "checkout::pricing",
    );
    let _e = span.enter();
    let mut total = 0;
    for (id, sku) in items {
        let s = otel_span!(
            "pricing.price_item",
            service = "pricing",
            product.id = *id,
            product.sku = *sku,
            price.list_cents = 1000 + id * 37,
            price.discount_cents = tracing::field::Empty,
            code.namespace = "checkout::pricing",
        );
        let _e = s.enter();
        {
            let r = otel_span!(
                "pricing.rules",
                service = "pricing",
                rules.matched = "loyalty-gold;bundle-3;free-shipping-over-50",
                rules.evaluated = 42u64,
                rules.engine = "drools-compat/3.4"
            );
            let _e = r.enter();
            work(60);
        }
        db_query(
            "tax_rates",
            "SELECT tr.rate_bp, tr.valid_from, tr.valid_to FROM tax_rates tr JOIN products p ON p.tax_class = tr.tax_class \
             WHERE p.id = $1 AND tr.country = $2 AND now() BETWEEN tr.valid_from AND coalesce(tr.valid_to, 'infinity')",
            1,
            120,
        );
        let discount = id * 5;
        s.record("price.discount_cents", discount);
        total += 1000 + id * 37 - discount;
    }
    span.record("pricing.total_cents", total);
    total
}

fn payment(order: &str, total: u64) {
    let span = otel_span!(
        "payment.charge",
        service = "payment",
        payment.provider = "acme-pay",
        payment.method = "card",
        payment.amount_cents = total,
        payment.currency = "EUR",
        order.id = order,
        otel.status_code = tracing::field::Empty,
        baggage = BAGGAGE,
        tracestate = TRACE_STATE,
        code.namespace = "checkout::payment",
    );
    let _e = span.enter();
    // Fraud scoring runs on its own thread while the card is tokenised.
    let parent = Span::current();
    let fraud = thread::spawn(traced(move || {
        let s = info_span!(
            parent: &parent,
            "payment.fraud_score",
            service = "payment",
            fraud.model = "gbm-2026-10",
            fraud.features = 118u64,
            code.function = module_path!(),
            thread.name = "fraud-worker",
            baggage.tenant = "acme-eu",
        );
        let _e = s.enter();
        db_query(
            "fraud_signals",
            "SELECT count(*) FILTER (WHERE created_at > now() - interval '1 hour') AS recent, max(score) FROM fraud_signals \
             WHERE card_fingerprint = $1 OR device_id = $2 OR ip_hash = $3",
            1,
            900,
        );
        info!(fraud.score = 0.07, "scored");
    }));
    {
        let s = otel_span!(
            "payment.tokenize",
            service = "payment",
            card.brand = "visa",
            card.last4 = "4242",
            vault.region = "eu"
        );
        let _e = s.enter();
        work(300);
    }
    let _ = fraud.join();
    for attempt in 1..=2u64 {
        let s = otel_span!(
            "payment.authorize",
            service = "payment",
            payment.attempt = attempt,
            http.method = "POST",
            http.url = "https://api.acme-pay.example/v3/payment_intents/pi_3Q9x7Z/confirm",
            http.status_code = tracing::field::Empty,
            net.peer.name = "api.acme-pay.example",
            http.request.header.idempotency_key = "ck-7f3a-2c9e-attempt",
            http.user_agent = "acme-pay-rust/2.8.1",
        );
        let _e = s.enter();
        work(700);
        if attempt == 1 {
            s.record("http.status_code", 503u64);
            error!(
                exception.type = "payment_gateway::Error::Unavailable",
                exception.message = "upstream returned 503 Service Unavailable",
                exception.stacktrace = stack_trace("payment_gateway::Error::Unavailable: upstream returned 503").as_str(),
                "authorization failed, retrying"
            );
        } else {
            s.record("http.status_code", 200u64);
            info!(payment.intent = "pi_3Q9x7Z", "authorized");
        }
    }
    db_query(
        "payments",
        "INSERT INTO payments (order_id, provider, intent_id, amount_cents, currency, status, captured_at) \
         VALUES ($1, 'acme-pay', $2, $3, 'EUR', 'captured', now()) RETURNING id",
        1,
        250,
    );
    span.record("otel.status_code", "OK");
}

fn notify(order: &str) {
    let origin = Span::current();
    let span = otel_span!(
        "notification.send",
        service = "notification",
        order.id = order,
        notification.channels = "email;push",
        messaging.system = "kafka",
        messaging.destination = "notifications.order-confirmed.v2",
    );
    span.follows_from(&origin);
    let handle = {
        let span = span.clone();
        thread::spawn(traced(move || {
            let _e = span.enter();
            db_query(
                "outbox",
                "INSERT INTO outbox (aggregate_type, aggregate_id, event_type, payload, created_at) \
                 VALUES ('order', $1, 'OrderConfirmed', $2::jsonb, now())",
                1,
                200,
            );
            warn!(
                template = "order-confirmed-v7",
                "push token expired; email only"
            );
        }))
    };
    let _ = handle.join();
}

fn checkout(items: &[(u64, &str)]) {
    let order = "ord_7f3a2c9e";
    let root = info_span!(
        "POST /checkout",
        service = "gateway",
        http.method = "POST",
        http.route = "/api/v2/checkout",
        http.url = "https://shop.acme.example/api/v2/checkout?cart=open&locale=nl-NL",
        http.scheme = "https",
        http.status_code = tracing::field::Empty,
        http.user_agent = USER_AGENT,
        http.request_content_length = 2817u64,
        net.peer.ip = "203.0.113.77",
        client.address = "203.0.113.77",
        baggage = BAGGAGE,
        tracestate = TRACE_STATE,
        order.id = order,
        enduser.id = "u_19283",
    );
    let _e = root.enter();
    http_call("gateway", "auth", "POST", "/v1/tokens/verify", || {
        auth("u_19283")
    });
    http_call("gateway", "cart", "GET", "/v1/carts/current", || {
        load_cart("u_19283", items)
    });
    http_call("gateway", "inventory", "POST", "/v1/reservations", || {
        inventory(items)
    });
    let total = http_call("gateway", "pricing", "POST", "/v1/quotes", || {
        pricing(items)
    });
    http_call("gateway", "payment", "POST", "/v1/charges", || {
        payment(order, total)
    });
    db_query(
        "orders",
        "UPDATE orders SET status = 'confirmed', total_cents = $2, confirmed_at = now(), payment_id = $3 \
         WHERE id = $1 AND status = 'pending' RETURNING id, status, confirmed_at",
        1,
        200,
    );
    http_call(
        "gateway",
        "notification",
        "POST",
        "/v1/notifications",
        || notify(order),
    );
    root.record("http.status_code", 201u64);
    info!(
        order.id = order,
        http.status_code = 201u64,
        "checkout complete"
    );
}

/// Runs one checkout of 25 items through whatever subscriber is current.
pub fn run() {
    let skus = [
        "SKU-RED-MUG",
        "SKU-BLUE-TEE",
        "SKU-NOTEBOOK-A5",
        "SKU-USB-C-HUB",
        "SKU-DESK-LAMP",
    ];
    let items: Vec<(u64, &str)> = (1..=25).map(|i| (i, skus[(i % 5) as usize])).collect();
    checkout(&items);
}
