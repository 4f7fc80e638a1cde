// A cell's notify() messages: tapped as stream events, then delivered to the delegate one at a
// time and in order, with a bound on how many may wait for it.
import { isCodeCellError, messageOf } from '../errors.js';
import type { CellOptions } from './options.js';
import type { CallbackSet } from './callbacks.js';

/** Bound on the notifications a cell can pile up faster than its delegate takes them. */
export const MAX_NOTIFICATION_BACKLOG = 10_000;

/** Of the cell's options: its id, the exec call the notifications belong to, the delegate, logger and tap. */
export type NotificationsOptions = Pick<CellOptions, 'id' | 'toolCallId' | 'delegate' | 'logger' | 'emit'>;

export class Notifications {
  readonly #options: NotificationsOptions;
  readonly #callbacks: CallbackSet;

  constructor(options: NotificationsOptions, callbacks: CallbackSet) {
    this.#options = options;
    this.#callbacks = callbacks;
  }

  /** Queues the notification; false (nothing queued) when the backlog is full. */
  send(text: string): boolean {
    const { id: cellId, toolCallId: callId, delegate, logger, emit } = this.#options;
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
    callbacks
      .notify((signal) => delegate.notify(notification, signal))
      .catch((error: unknown) => {
        if (!isCodeCellError(error, 'ERR_CANCELLED')) {
          logger.warn(`codecell: notify for cell ${cellId} failed: ${messageOf(error)}`);
        }
      });
    return true;
  }
}
