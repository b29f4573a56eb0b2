import { createHmac, timingSafeEqual } from 'node:crypto';
import { MLFLOW_WEBHOOK_HEADERS as H, PROMOTION_DELIVERY_OUTCOMES as O } from '../../contract';

/** Why a delivery was refused, or that it passed; `status` is the HTTP answer. */
export type Verdict =
  | { readonly ok: true; readonly deliveryId: string }
  | { readonly ok: false; readonly status: number; readonly outcome: string; readonly reason: string };

/**
 * MLflow 3's signature (mlflow/webhooks/delivery.py, _generate_hmac_signature): `v1,` and the
 * base64 HMAC-SHA256, keyed with the webhook's secret, of `<delivery id>.<timestamp>.<body>`,
 * where body is the exact bytes sent.
 */
export function mlflowSignature(secret: string, deliveryId: string, timestamp: string, body: Buffer | string): string {
  const mac = createHmac('sha256', Buffer.from(secret, 'utf8'));
  mac.update(`${deliveryId}.${timestamp}.`, 'utf8');
  mac.update(body);
  return `v1,${mac.digest('base64')}`;
}

/**
 * Delivery ids seen within the tolerance window. A replay inside the window carries a seen id;
 * one outside it is refused as stale, so ids older than the window can be forgotten.
 */
export class ReplayCache {
  private readonly seen = new Map<string, number>();

  constructor(private readonly windowMs: number, private readonly maxEntries = 100_000) {}

  /** Records `id`; false when it was seen within the window. */
  public admit(id: string, nowMs: number): boolean {
    this.prune(nowMs);
    if (this.seen.has(id)) return false;
    // Past the bound the oldest go first: a flood of signed deliveries is not a real pattern.
    if (this.seen.size >= this.maxEntries) this.seen.delete(this.seen.keys().next().value as string);
    this.seen.set(id, nowMs);
    return true;
  }

  private prune(nowMs: number): void {
    for (const [id, at] of this.seen) {
      if (nowMs - at <= this.windowMs) break;
      this.seen.delete(id);
    }
  }
}

/**
 * Checks a delivery's headers and body, in this order: headers present, timestamp within
 * `toleranceSeconds` of `nowMs`, signature over the exact body, delivery id not seen before.
 * The id is recorded only for a delivery whose signature holds.
 */
export function verifyDelivery(
  headers: Readonly<Record<string, string | string[] | undefined>>, body: Buffer, secret: string,
  toleranceSeconds: number, replays: ReplayCache, nowMs: number,
): Verdict {
  const one = (name: string) => {
    const v = headers[name];
    return Array.isArray(v) ? undefined : v;
  };
  const deliveryId = one(H.deliveryId);
  const timestamp = one(H.timestamp);
  const signature = one(H.signature);
  const missing = [[H.deliveryId, deliveryId], [H.timestamp, timestamp], [H.signature, signature]].filter(([, v]) => !v).map(([n]) => n);
  if (missing.length > 0) {
    return refuse(400, O.missingHeaders, `missing (or repeated) header${missing.length > 1 ? 's' : ''} ${missing.join(', ')}: not a signed MLflow delivery (set a secret on the webhook)`);
  }
  if (!/^[0-9]{1,12}$/.test(timestamp!)) return refuse(400, O.missingHeaders, `${H.timestamp} (${JSON.stringify(timestamp)}) is not a Unix time in seconds`);
  const skew = Math.abs(nowMs / 1000 - Number(timestamp));
  if (skew > toleranceSeconds) {
    return refuse(401, O.stale, `${H.timestamp} is ${Math.round(skew)} s from the relay's clock, beyond the ${toleranceSeconds} s tolerance: a replayed delivery or a clock far off`);
  }
  const expected = Buffer.from(mlflowSignature(secret, deliveryId!, timestamp!, body), 'utf8');
  // MLflow sends one signature; Standard Webhooks allows several separated by spaces.
  const offered = signature!.split(' ').map((s) => Buffer.from(s, 'utf8'));
  if (!offered.some((s) => s.length === expected.length && timingSafeEqual(s, expected))) {
    return refuse(401, O.badSignature, `${H.signature} does not match the body: it was changed, or signed with another secret`);
  }
  if (!replays.admit(deliveryId!, nowMs)) {
    return refuse(409, O.replayed, `delivery ${deliveryId} was already received: a replay`);
  }
  return { ok: true, deliveryId: deliveryId! };
}

function refuse(status: number, outcome: string, reason: string): Verdict {
  return { ok: false, status, outcome, reason };
}

/** What a verified body asks for: an alias created on a model version. */
export interface AliasEvent {
  readonly name: string;
  readonly alias: string;
  readonly version: string;
}

/** Reads MLflow's envelope `{entity, action, timestamp, data}`; a refusal when it is not a model_version_alias.created event. */
export function parseAliasEvent(body: Buffer): { event: AliasEvent } | { status: number; outcome: string; reason: string } {
  let parsed: any;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch (err) {
    return { status: 400, outcome: O.badRequest, reason: `body is not JSON: ${(err as Error).message}` };
  }
  if (parsed === null || typeof parsed !== 'object' || typeof parsed.entity !== 'string' || typeof parsed.action !== 'string' || parsed.data === null || typeof parsed.data !== 'object') {
    return { status: 400, outcome: O.badRequest, reason: 'body is not an MLflow webhook envelope {entity, action, timestamp, data}' };
  }
  if (parsed.entity !== 'model_version_alias' || parsed.action !== 'created') {
    return { status: 422, outcome: O.ignoredEvent, reason: `event ${parsed.entity}.${parsed.action} is not model_version_alias.created, the one event the relay acts on` };
  }
  const { name, alias, version } = parsed.data;
  if (typeof name !== 'string' || typeof alias !== 'string' || typeof version !== 'string' || !/^[1-9][0-9]{0,9}$/.test(version)) {
    return { status: 400, outcome: O.badRequest, reason: 'data is not {name, alias, version} with a version number' };
  }
  return { event: { name, alias, version } };
}
