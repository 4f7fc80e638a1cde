// A journal's deliveries as plain JSON, and the checks of a journal that comes from outside (a
// snapshot, a cell sent to run again): each field's shape, with an Error that says what is wrong.

/** One entry into the sandbox: a tool call's outcome (as the sandbox takes it), or a timer. */
export type JournalDelivery =
  | {
      readonly kind: 'settle';
      readonly callId: string;
      readonly ok: boolean;
      readonly payload: string;
      readonly errorKind: string;
    }
  | { readonly kind: 'timer'; readonly id: number };

export function record(value: unknown, where: string): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw new Error(`${where} must be an object`);
  return value as Record<string, unknown>;
}

export function list(value: unknown, where: string): unknown[] {
  if (!Array.isArray(value)) throw new Error(`${where} must be an array`);
  return value;
}

/** A delivery from a snapshot, checked. */
export function checkDelivery(value: unknown): JournalDelivery {
  const delivery = record(value, 'a delivery');
  if (delivery.kind === 'timer' && Number.isSafeInteger(delivery.id))
    return { kind: 'timer', id: delivery.id as number };
  const { callId, ok, payload, errorKind } = delivery;
  if (
    delivery.kind === 'settle' &&
    typeof callId === 'string' &&
    typeof ok === 'boolean' &&
    typeof payload === 'string' &&
    typeof errorKind === 'string'
  )
    return { kind: 'settle', callId, ok, payload, errorKind };
  throw new Error('a delivery must be { kind: "timer", id } or { kind: "settle", callId, ok, payload, errorKind }');
}
