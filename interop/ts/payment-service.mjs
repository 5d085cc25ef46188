// @ts-check
/**
 * The demo's payment service (`com.payment.charge`, contract `#/demo/payment/charge`) written
 * with the TypeScript reference's npm packages, serving its NATS JetStream subject next to the
 * Rust workers of `arvo_runtime::transport::nats` (same streams, subjects, consumer, headers).
 *
 * Delivery, as the Rust `NatsWorker` does it:
 * 1. the durable pull consumer `arvo_{escaped source}` on `{stream}.ev.{encoded to}` (created
 *    with the Rust worker's settings when missing); pull requests ask only for free slots, so
 *    at most ARVO_IN_FLIGHT events are held at once;
 * 2. the event is read from the reference's JSON and run by an `ArvoEventHandler`, with
 *    in-progress heartbeats every third of ARVO_ACK_WAIT_MS;
 * 3. every emitted event is published on the subject of its `to` with `Nats-Msg-Id` = its id,
 *    and each publish acknowledgement is awaited;
 * 4. only then the input is acknowledged (double ack).
 * A thrown violation is negatively acknowledged with a backoff (100 ms x1.5 per delivery, at
 * most 5 s); on the ARVO_MAX_DELIVERIES-th failed delivery the event goes to `{stream}_DLQ` in
 * the Rust worker's dead-letter envelope. A plain error in the handler is the reference's
 * system error event (`sys.com.payment.charge.error`), sent back like any output.
 *
 * Environment: NATS_URL (nats://127.0.0.1:4222), ARVO_STREAM (ARVO), ARVO_IN_FLIGHT (16),
 * ARVO_MAX_DELIVERIES (5), ARVO_ACK_WAIT_MS (30000). Status lines go to stderr, one JSON object
 * each (`{"status":"ready",...}` once serving); SIGTERM or SIGINT stops fetching, finishes and
 * acknowledges the events in flight, and exits 0.
 */
import { context, propagation, trace } from '@opentelemetry/api';
import { AsyncHooksContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { BasicTracerProvider } from '@opentelemetry/sdk-trace-base';
import { ArvoEvent, createSimpleArvoContract } from 'arvo-core';
import { createArvoEventHandler } from 'arvo-event-handler';
import { AckPolicy, connect, headers, nanos } from 'nats';
import { pathToFileURL } from 'node:url';
import { z } from 'zod';

// OpenTelemetry as a Node service sets it up (what @opentelemetry/sdk-node registers): a context
// manager, so the spans arvo opens are active and its logs go to them instead of printing
// multi-line JSON on stdout; the W3C propagator, so the handler's span continues the trace of
// the event's `traceparent`; a tracer provider, so that span is real and the emitted events
// carry its `traceparent`. Without these, arvo 2.x writes `traceparent: null`. No exporter is
// configured: add one (e.g. OTLP) to see the spans.
context.setGlobalContextManager(new AsyncHooksContextManager().enable());
propagation.setGlobalPropagator(new W3CTraceContextPropagator());
trace.setGlobalTracerProvider(new BasicTracerProvider());

/** The card token the payment service declines (as the Rust demo's `DECLINED_CARD`). */
export const DECLINED_CARD = 'tok_declined';

/** `examples/contracts` `PaymentCharge`: same uri, type, version and schemas. */
export const paymentCharge = createSimpleArvoContract({
  uri: '#/demo/payment/charge',
  type: 'payment.charge',
  description: 'Charges a card',
  versions: {
    '1.0.0': {
      accepts: z.object({
        order_id: z.string(),
        amount_cents: z.number().int().min(0),
        card: z.string(),
      }),
      emits: z.object({
        charge_id: z.string(),
        amount_cents: z.number().int().min(0),
      }),
    },
  },
});

/** The payment handler: charges the card, and fails with a plain error for DECLINED_CARD. */
export const paymentHandler = createArvoEventHandler({
  contract: paymentCharge,
  executionunits: 0,
  handler: {
    '1.0.0': async ({ event }) => {
      const { order_id, amount_cents, card } = event.data;
      if (card === DECLINED_CARD) {
        // A plain error: the handler turns it into sys.com.payment.charge.error.
        throw new Error(`card declined: ${card} for ${amount_cents} cents`);
      }
      return {
        type: 'evt.payment.charge.success',
        data: { charge_id: `ch-${order_id}`, amount_cents },
        // arvo-event-handler 2.x sets no `parentid` (a v3 attribute): carried as an extension
        // so a v3 orchestrator can tell which of its calls this answers.
        __extensions: { parentid: event.id },
      };
    },
  },
});

/** The keys an arvo-core 2.x ArvoEvent knows; any other key is a custom extension. */
const KNOWN = new Set([
  'id', 'source', 'specversion', 'type', 'subject', 'datacontenttype', 'dataschema', 'data',
  'time', 'to', 'accesscontrol', 'redirectto', 'executionunits', 'traceparent', 'tracestate',
]);

/**
 * Reads an event as the reference's JSON. v3's `parentid` and `domain` (unknown to arvo-core
 * 2.x) are kept as custom extensions, like every other extension-named key.
 * @param {Uint8Array} bytes
 */
export function parseEvent(bytes) {
  const json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new Error('the payload is not a JSON object');
  }
  /** @type {Record<string, any>} */
  const extensions = {};
  for (const [k, v] of Object.entries(json)) if (!KNOWN.has(k)) extensions[k] = v;
  return new ArvoEvent(json, json.data, extensions);
}

/**
 * One NATS token of a `to` piece, as the Rust `encode_token`: ASCII letters, digits, `-` and
 * `_` kept, every other UTF-8 byte as `~HH`, an empty piece as `~`.
 * @param {string} piece
 */
export function encodeToken(piece) {
  if (piece === '') return '~';
  let out = '';
  for (const b of new TextEncoder().encode(piece)) {
    const c = String.fromCharCode(b);
    out += /[A-Za-z0-9_-]/.test(c) ? c : `~${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** @param {string} stream @param {string} to */
export const subjectOf = (stream, to) => `${stream}.ev.${to.split('.').map(encodeToken).join('.')}`;

/** A header value as the Rust worker writes it: no control characters, at most 512 bytes. */
function headerText(/** @type {string} */ s) {
  let out = s.replace(/\p{Cc}/gu, ' ');
  while (new TextEncoder().encode(out).length > 512) out = out.slice(0, -1);
  return out;
}

/** One JSON status line on stderr. @param {Record<string, unknown>} o */
function status(o) {
  process.stderr.write(`${JSON.stringify({ service: paymentHandler.source, ...o })}\n`);
}

/** @param {string} name @param {number} fallback */
function envInt(name, fallback) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) {
    throw new Error(`${name} must be a positive integer, got '${raw}'`);
  }
  return n;
}

async function main() {
  const url = process.env.NATS_URL || 'nats://127.0.0.1:4222';
  const stream = process.env.ARVO_STREAM || 'ARVO';
  const inFlight = envInt('ARVO_IN_FLIGHT', 16);
  const maxDeliveries = envInt('ARVO_MAX_DELIVERIES', 5);
  const ackWait = envInt('ARVO_ACK_WAIT_MS', 30_000);
  const handlerName = paymentHandler.source;
  const durable = `arvo_${encodeToken(handlerName)}`;

  const nc = await connect({ servers: url, name: `arvo-ts ${handlerName}` });
  const jsm = await nc.jetstreamManager();
  const js = nc.jetstream();
  try {
    await jsm.streams.info(stream);
  } catch (e) {
    throw new Error(`stream '${stream}' not found at ${url} (the Rust transport creates it): ${e}`);
  }
  try {
    await jsm.consumers.info(stream, durable);
  } catch {
    // The Rust worker's settings: the worker counts deliveries, the server does not limit them.
    await jsm.consumers.add(stream, {
      durable_name: durable,
      filter_subject: subjectOf(stream, handlerName),
      ack_policy: AckPolicy.Explicit,
      ack_wait: nanos(ackWait),
      max_deliver: -1,
      max_ack_pending: -1,
    });
  }
  const consumer = await js.consumers.get(stream, durable);

  /** @param {ArvoEvent} event */
  async function publish(event) {
    const to = event.to;
    if (!to) throw new Error(`emitted event '${event.id}' has no "to"`);
    const h = headers();
    h.set('Content-Type', 'application/cloudevents+json');
    await js.publish(subjectOf(stream, to), event.toString(), { msgID: event.id, headers: h });
  }

  /**
   * @param {import('nats').JsMsg} m
   * @param {number} delivered
   * @param {string} error
   * @param {ArvoEvent | null} event
   * @param {string | null} raw
   */
  async function deadLetter(m, delivered, error, event, raw) {
    const seq = m.info.streamSequence;
    const envelope = {
      handler: handlerName,
      deliveries: delivered,
      error,
      subject: m.subject,
      streamSequence: seq,
      event: event ? event.toJSON() : null,
      raw,
    };
    const h = headers();
    h.set('Arvo-Handler', headerText(handlerName));
    h.set('Arvo-Deliveries', String(delivered));
    h.set('Arvo-Error', headerText(error));
    try {
      await js.publish(`${stream}_dlq.${encodeToken(handlerName)}`, JSON.stringify(envelope), {
        msgID: `${stream}-${seq}`,
        headers: h,
      });
    } catch (e) {
      status({ status: 'dead-lettering failed, left for re-delivery', error: String(e) });
      m.nak(1000);
      return;
    }
    status({ status: 'dead-lettered', delivered, error });
    // No reason text: servers before 2.10 do not read `+TERM <reason>` as a termination.
    m.term();
  }

  /** @param {import('nats').JsMsg} m */
  async function handle(m) {
    const delivered = m.info.deliveryCount;
    let event;
    try {
      event = parseEvent(m.data);
    } catch (e) {
      const raw = new TextDecoder().decode(m.data);
      await deadLetter(m, delivered, `not an Arvo event: ${e instanceof Error ? e.message : e}`, null, raw);
      return;
    }
    if (delivered > maxDeliveries) {
      const error = `delivered ${delivered} times (max ${maxDeliveries}): earlier deliveries were not acknowledged`;
      await deadLetter(m, delivered, error, event, null);
      return;
    }
    const beat = setInterval(() => m.working(), Math.max(1, Math.floor(ackWait / 3)));
    try {
      const outputs = await paymentHandler.execute(event, { inheritFrom: 'EVENT' });
      await Promise.all(outputs.map(publish));
    } catch (e) {
      clearInterval(beat);
      const error = e instanceof Error ? e.message : String(e);
      if (delivered >= maxDeliveries) {
        await deadLetter(m, delivered, error, event, null);
      } else {
        const delay = Math.min(100 * 1.5 ** (delivered - 1), 5000);
        status({ status: 'retrying', event_id: event.id, delivered, delay_ms: delay, error });
        m.nak(delay);
      }
      return;
    }
    clearInterval(beat);
    try {
      await m.ackAck();
    } catch (e) {
      status({ status: 'ack failed: the event will be re-delivered', event_id: event.id, error: String(e) });
    }
  }

  // Bounded in flight, as the Rust worker: each pull request asks only for the free slots and
  // expires after a second; everything it delivers is handled, even after a stop, so no event
  // is left delivered and unhandled (a pull request cannot be withdrawn from the server).
  /** @type {Set<Promise<void>>} */
  const running = new Set();
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    status({ status: 'stopping: finishing the events in flight', in_flight: running.size });
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  status({ status: 'ready', stream, consumer: durable, subject: subjectOf(stream, handlerName), in_flight: inFlight });
  while (!stopping) {
    const free = inFlight - running.size;
    if (free <= 0) {
      await Promise.race(running);
      continue;
    }
    let batch;
    try {
      batch = await consumer.fetch({ max_messages: free, expires: 1000 });
    } catch (e) {
      status({ status: 'pull request failed; retrying in 1 s', error: String(e) });
      await new Promise((r) => setTimeout(r, 1000));
      continue;
    }
    try {
      for await (const m of batch) {
        const p = handle(m).catch((e) => status({ status: 'unexpected failure', error: String(e) }));
        running.add(p);
        p.finally(() => running.delete(p));
      }
    } catch (e) {
      status({ status: 'pull request ended with an error', error: String(e) });
    }
  }
  await Promise.all(running);
  await nc.drain();
  status({ status: 'stopped' });
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((e) => {
    status({ status: 'failed', error: e instanceof Error ? e.message : String(e) });
    process.exit(1);
  });
}
