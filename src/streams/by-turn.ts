// Reading an event stream a turn of the event loop at a time. Whatever a cell sends while it
// holds the main thread (isolated-vm delivers its messages in one loop) only waits in the
// subscriber's bounded stream; the reader takes it all once the loop turns. So following a cell
// (relaying its events over the wire, sending them on as MCP progress) never adds to the time
// its messages hold the main thread, which the flood guard measures, and never changes its outcome.

const NONE = Symbol('none queued');
/** Settled already: a race against a stream's next() is won by it only when it had an event queued. */
const NONE_QUEUED = Promise.resolve(NONE);

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Hands each event to `onEvent` until the stream ends or `going()` is false; queued events at once, then a turn. */
export async function readByTurn<T>(
  events: AsyncIterator<T>,
  onEvent: (event: T) => void,
  going: () => boolean = () => true,
): Promise<void> {
  for (let next = await events.next(); next.done !== true && going();) {
    onEvent(next.value);
    const pending = events.next();
    const ready = await Promise.race([pending, NONE_QUEUED]);
    if (ready === NONE) await nextTurn();
    next = ready === NONE ? await pending : ready;
  }
}
