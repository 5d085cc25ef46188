//! The shop's checkout over NATS: places orders into the order workflow served by
//! `order-worker` processes, and waits for every completion (see the README's "across
//! processes" section).
//!
//! ```text
//! order-client [--nats-url URL] [--stream NAME] [--orders N] [--timeout DURATION] [--show N]
//! ```
//!
//! `--nats-url` and `--stream` default to `ARVO_NATS_URL` and `ARVO_STREAM` (else
//! `nats://127.0.0.1:4222` and `ARVO`); `--orders` (default 6) orders are placed in turn from
//! [`client_order`] (completed, payment failed, rejected); `--timeout` (default `60s`) bounds
//! the wait; the first `--show` (default 12) completions are printed as they arrive.
//!
//! The completions are read from a subscription on the checkout's subject, opened before the
//! first order is published, and counted by workflow subject: a second completion with another
//! event id is a duplicate (a re-publish of the same event is suppressed by JetStream, and only
//! counted as `republished`). Prints one summary line and exits 0 only when every order
//! completed once, as expected.

use std::collections::{BTreeMap, HashMap};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use arvo_example_contracts::order::{OrderProcess, OrderResult, OrderStatus};
use arvo_examples::order::{CHECKOUT, OrderSystem, client_order};
use arvo_runtime::event::ArvoEvent;
use arvo_runtime::transport::nats::{NatsStreams, NatsTransport};
use arvo_runtime::worker::{env_var, process_args};
use futures_util::StreamExt as _;
use futures_util::future::join_all;
use serde::Deserialize as _;

const USAGE: &str = "usage: order-client [--nats-url URL] [--stream NAME] [--orders N] [--timeout DURATION] [--show N]";

#[derive(Debug)]
struct Args {
    nats_url: String,
    stream: String,
    orders: usize,
    timeout: Duration,
    show: usize,
}

fn parse_args() -> Result<Args, String> {
    let env = |k: &str| env_var(k).map_err(|e| e.to_string());
    let mut a = Args {
        nats_url: env("ARVO_NATS_URL")?.unwrap_or_else(|| "nats://127.0.0.1:4222".to_owned()),
        stream: env("ARVO_STREAM")?.unwrap_or_else(|| "ARVO".to_owned()),
        orders: 6,
        timeout: Duration::from_secs(60),
        show: 12,
    };
    let mut args = process_args()
        .map_err(|e| format!("{e}\n{USAGE}"))?
        .into_iter();
    while let Some(flag) = args.next() {
        if flag == "--help" || flag == "-h" {
            return Err(USAGE.to_owned());
        }
        let value = args
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        let number = || {
            value
                .parse::<usize>()
                .map_err(|_| format!("{flag} = '{value}': not a whole number"))
        };
        match flag.as_str() {
            "--nats-url" => a.nats_url = value.clone(),
            "--stream" => a.stream = value.clone(),
            "--orders" => a.orders = number()?,
            "--show" => a.show = number()?,
            "--timeout" => {
                let secs = value
                    .strip_suffix('s')
                    .unwrap_or(&value)
                    .parse::<f64>()
                    .ok()
                    .and_then(|s| Duration::try_from_secs_f64(s).ok())
                    .ok_or_else(|| format!("--timeout = '{value}': not a number of seconds"))?;
                a.timeout = secs;
            }
            other => return Err(format!("unexpected argument '{other}'\n{USAGE}")),
        }
    }
    Ok(a)
}

/// One placed order: what it must end as, and the completions seen for it.
struct Placed {
    order_id: String,
    expected: OrderStatus,
    completions: Vec<String>,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(m) if m == USAGE => {
            println!("{m}");
            return ExitCode::SUCCESS;
        }
        Err(m) => {
            eprintln!("order-client: {m}");
            return ExitCode::from(2);
        }
    };
    match run(&args).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("order-client: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: &Args) -> Result<bool, Box<dyn std::error::Error>> {
    let streams = NatsStreams::new(args.stream.as_str())?;
    let transport = NatsTransport::connect(&args.nats_url, streams).await?;
    let reply_subject = transport.streams().subject(CHECKOUT);
    let mut completions = transport.client().subscribe(reply_subject.clone()).await?;
    let run_id = uuid::Uuid::new_v4().simple().to_string()[..6].to_owned();
    let mut placed: HashMap<String, Placed> = HashMap::with_capacity(args.orders);
    let mut inits = Vec::with_capacity(args.orders);
    for i in 0..args.orders {
        let (order, expected) = client_order(&run_id, i);
        let init = OrderSystem::order_event(&order)?;
        placed.insert(
            init.subject().to_owned(),
            Placed {
                order_id: order.order_id.clone(),
                expected,
                completions: Vec::new(),
            },
        );
        inits.push(init);
    }
    println!(
        "order-client: placing {} orders on stream {} (completions on {reply_subject})",
        args.orders, args.stream
    );
    let started = Instant::now();
    for chunk in inits.chunks(100) {
        for receipt in join_all(chunk.iter().map(|e| transport.publish(e))).await {
            receipt?;
        }
    }
    let (mut done, mut unexpected, mut duplicates, mut republished) =
        (0usize, 0usize, 0usize, 0usize);
    let mut statuses: BTreeMap<String, usize> = BTreeMap::new();
    let deadline = tokio::time::Instant::now() + args.timeout;
    while done < args.orders {
        let Ok(Some(msg)) = tokio::time::timeout_at(deadline, completions.next()).await else {
            break;
        };
        let event = match ArvoEvent::from_json_slice(&msg.payload) {
            Ok(e) => e,
            Err(e) => {
                eprintln!("order-client: not an event on {}: {e}", msg.subject);
                continue;
            }
        };
        let Some(p) = placed.get_mut(event.subject()) else {
            continue; // another client's order
        };
        if p.completions.iter().any(|id| id == event.id()) {
            republished += 1;
            continue;
        }
        p.completions.push(event.id().to_owned());
        if p.completions.len() > 1 {
            duplicates += 1;
            println!("  DUPLICATE completion of {}: {}", p.order_id, event.id());
            continue;
        }
        done += 1;
        let result = (event.event_type() == OrderProcess::COMPLETE_TYPE)
            .then(|| OrderResult::deserialize(event.data()).ok())
            .flatten();
        let line = match &result {
            Some(r) => {
                *statuses.entry(format!("{:?}", r.status)).or_default() += 1;
                if r.status != p.expected {
                    unexpected += 1;
                }
                format!(
                    "{} {:?}{}{}",
                    r.order_id,
                    r.status,
                    r.tracking_id
                        .as_deref()
                        .map(|t| format!(", tracking {t}"))
                        .unwrap_or_default(),
                    r.reason
                        .as_deref()
                        .map(|t| format!(", reason: {t}"))
                        .unwrap_or_default()
                )
            }
            None => {
                unexpected += 1;
                format!(
                    "{} ended with {}: {:?}",
                    p.order_id,
                    event.event_type(),
                    event.data()
                )
            }
        };
        if done <= args.show {
            println!("  {:>5.0?}  {line}", started.elapsed());
        }
    }
    let elapsed = started.elapsed();
    let missing: Vec<&str> = placed
        .values()
        .filter(|p| p.completions.is_empty())
        .map(|p| p.order_id.as_str())
        .collect();
    let ok = done == args.orders && unexpected == 0 && duplicates == 0;
    println!(
        "order-client: placed={} completed={} missing={} unexpected={} duplicates={} \
         republished={republished} statuses={statuses:?} time={elapsed:.2?} => {}",
        args.orders,
        done,
        missing.len(),
        unexpected,
        duplicates,
        if ok {
            "all as expected"
        } else {
            "NOT as expected"
        }
    );
    if !missing.is_empty() {
        let shown: Vec<&str> = missing.iter().copied().take(10).collect();
        println!("  missing (first 10): {}", shown.join(", "));
    }
    Ok(ok)
}
