//! A worker process of the order workflow over NATS JetStream + PostgreSQL (see
//! [`arvo_runtime::worker`] and the README's "across processes" section).
//!
//! Serves the order workflow `arvo.orc.order.process` and its payment child workflow
//! `arvo.orc.order.payment` (resumables, state in PostgreSQL), and the three services
//! `com.inventory.reserve`, `com.payment.charge`, `com.shipping.schedule` (every handler of
//! the program's registry); `--serve` picks some of them, so each can run in its own
//! processes. A worker serving the order workflow is also the human desk: it answers approval
//! requests, approving orders up to `--approve-up-to CENTS` (`ARVO_APPROVE_UP_TO`, default
//! 1000000, i.e. 10,000.00).
//!
//! ```text
//! order-worker --stream ORDERS --postgres-url postgres://postgres@127.0.0.1:5432/test \
//!     --serve arvo.orc.order.process,arvo.orc.order.payment
//! order-worker --stream ORDERS --serve com.inventory.reserve
//! ```
//!
//! Every other flag and variable is [`WorkerConfig`]'s (`order-worker --help`). Prints a
//! health line when it serves; stops on SIGTERM or SIGINT after finishing the events in
//! flight, prints its counters and exits 0.

use std::process::ExitCode;

use arvo_example_contracts::order::{ChargeRequest, OrderProcess, PaymentFlow as PaymentContract};
use arvo_examples::order::{
    OrderContext, OrderFlow, PaymentFlow, answer_approval, reviewer_with_limit,
};
use arvo_runtime::resumable::ResumableMemoryRecord;
use arvo_runtime::worker::{
    WorkerConfig, WorkerError, WorkerProgram, WorkerReport, env_var, init_telemetry, process_args,
};

const NAME: &str = "order-worker";
const APPROVE_FLAG: &str = "--approve-up-to";
const APPROVE_VAR: &str = "ARVO_APPROVE_UP_TO";

/// Takes `--approve-up-to CENTS` (or `=CENTS`) out of `args`, else reads the variable.
fn approval_limit(args: &mut Vec<String>) -> Result<u64, String> {
    let mut value = env_var(APPROVE_VAR)
        .map_err(|e| e.to_string())?
        .map(|v| (APPROVE_VAR, v));
    let mut i = 0;
    while i < args.len() {
        if args[i] == APPROVE_FLAG {
            args.remove(i);
            if i >= args.len() {
                return Err(format!("{APPROVE_FLAG} needs a value (CENTS)"));
            }
            value = Some((APPROVE_FLAG, args.remove(i)));
        } else if let Some(v) = args[i].strip_prefix("--approve-up-to=") {
            value = Some((APPROVE_FLAG, v.to_owned()));
            args.remove(i);
        } else {
            i += 1;
        }
    }
    match value {
        None => Ok(1_000_000),
        Some((from, v)) => v
            .parse()
            .map_err(|_| format!("{from} = '{v}': not a whole number of cents")),
    }
}

fn main() -> ExitCode {
    let (limit, args) = match process_args()
        .map_err(|e| e.to_string())
        .and_then(|mut args| approval_limit(&mut args).map(|limit| (limit, args)))
    {
        Ok(taken) => taken,
        Err(message) => {
            eprintln!("{NAME}: {message}");
            return ExitCode::from(2);
        }
    };
    let config = match WorkerConfig::from_args(NAME, args) {
        Ok(config) => config,
        Err(WorkerError::Help(usage)) => {
            println!(
                "{usage}  {:<34} {APPROVE_VAR}  (the desk approves orders up to this; default 1000000)",
                format!("{APPROVE_FLAG} CENTS")
            );
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("{NAME}: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("{NAME}: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(config, limit)) {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{NAME}: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: WorkerConfig, limit: u64) -> Result<WorkerReport, WorkerError> {
    let telemetry = init_telemetry(&config)?;
    let transport = config.connect().await?;
    let mut program = WorkerProgram::new(config.clone(), transport.clone()).registered_handlers();
    if config.serves(OrderProcess::INIT_TYPE) || config.serves(PaymentContract::INIT_TYPE) {
        let orders = config
            .postgres_memory::<ResumableMemoryRecord<OrderContext>>()?
            .build()?;
        orders.migrate().await?;
        let payments = config
            .postgres_memory::<ResumableMemoryRecord<ChargeRequest>>()?
            .build()?;
        let reviewer = reviewer_with_limit(limit);
        program = program
            .handler(OrderFlow::default().resumable(orders))
            .handler(PaymentFlow.resumable(payments))
            .on_domained(move |request| {
                let (transport, reviewer) = (transport.clone(), reviewer.clone());
                async move { answer_approval(&transport, &*reviewer, request).await }
            });
    }
    let report = program.run().await;
    telemetry.shutdown();
    report
}
