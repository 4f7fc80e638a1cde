// A cell's notify() messages: tapped as stream events, then delivered to the delegate one at a
// time and in order, with a bound on how many may wait for it.
import { isCodeCellError, messageOf } from '../errors.js';
import type { CellOptions } from './options.js';
import type { CallbackSet } from './callbacks.js';
import type { CallSpans, TraceSpan } from '../tracing.js';

/** The span of a cell's run (when traced) and its calls' spans. */
export interface NotificationTrace {
  span(): TraceSpan | undefined;
  spans: CallSpans;
}

/** Bound on the notifications a cell can pile up faster than its delegate takes them. */
export const MAX_NOTIFICATION_BACKLOG = 10_000;

/** Of the cell's options: its id, the exec call the notifications belong to, the delegate, logger and tap. */
export type NotificationsOptions = Pick<
  CellOptions,
  'id' | 'toolCallId' | 'delegate' | 'logger' | 'emit' | 'writeAhead'
>;

export class Notifications {
  readonly #options: NotificationsOptions;
  readonly #callbacks: CallbackSet;
  readonly #trace: NotificationTrace | undefined;

  /** `trace`: the span of the cell's run, when it is traced (each notification gets a span under it). */
  constructor(options: NotificationsOptions, callbacks: CallbackSet, trace?: NotificationTrace) {
    this.#options = options;
    this.#callbacks = callbacks;
    this.#trace = trace;
  }

  /** Queues the notification; false (nothing queued) when the backlog is full. */
  send(text: string): boolean {
    const { id: cellId, toolCallId: callId, delegate, logger, emit, writeAhead } = this.#options;
    const callbacks = this.#callbacks;
    if (callbacks.notificationBacklog >= MAX_NOTIFICATION_BACKLOG) {
      logger.warn(
        `codecell: cell ${cellId} queued more than ${MAX_NOTIFICATION_BACKLOG} undelivered ` +
          `notifications; terminating it`,
      );
      return false;
    }
    emit({ type: 'notification', text });
    const notification = { cellId, callId, text };
    const trace = this.#trace;
    const span = trace?.span();
    const deliver =
      trace === undefined || span === undefined
        ? (signal: AbortSignal) => delegate.notify(notification, signal)
        : (signal: AbortSignal) =>
            trace.spans.traced('codecell.notify', { 'codecell.cell.id': cellId }, span, signal, () =>
              delegate.notify(notification, signal),
            );
    // With a store, the delegate gets it once the journal that counts it is durable (not sent twice).
    const gated =
      writeAhead === undefined
        ? deliver
        : (signal: AbortSignal) => writeAhead.notifying(cellId).then(() => deliver(signal));
    callbacks.notify(gated).catch((error: unknown) => {
      if (!isCodeCellError(error, 'ERR_CANCELLED')) {
        logger.warn(`codecell: notify for cell ${cellId} failed: ${messageOf(error)}`);
      }
    });
    return true;
  }
}
