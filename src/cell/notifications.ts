// A cell's notify() messages: tapped as stream events, then delivered to the delegate one at a
// time and in order, with a bound on how many may wait for it.
import { isCodeCellError, messageOf } from '../errors.js';
import type { CellId, CellStreamEvent, Logger, SessionRuntimeDelegate } from '../types.js';
import type { CallbackSet } from './callbacks.js';

/** Bound on the notifications a cell can pile up faster than its delegate takes them. */
export const MAX_NOTIFICATION_BACKLOG = 10_000;

export interface NotificationsOptions {
  cellId: CellId;
  /** The exec call the notifications belong to (CellNotification.callId). */
  callId: string;
  delegate: SessionRuntimeDelegate;
  callbacks: CallbackSet;
  logger: Logger;
  emit(event: CellStreamEvent): void;
}

export class Notifications {
  readonly #options: NotificationsOptions;

  constructor(options: NotificationsOptions) {
    this.#options = options;
  }

  /** Queues the notification; false (nothing queued) when the backlog is full. */
  send(text: string): boolean {
    const { cellId, callId, delegate, callbacks, logger, emit } = this.#options;
    if (callbacks.notificationBacklog >= MAX_NOTIFICATION_BACKLOG) {
      logger.warn(
        `codecell: cell ${cellId} queued more than ${MAX_NOTIFICATION_BACKLOG} undelivered notifications; terminating it`,
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
