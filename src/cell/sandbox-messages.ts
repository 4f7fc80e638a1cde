// What a running cell does with each message from its sandbox: one case per row of TO_HOST (a row
// without a case does not compile). The sandbox checks its arguments too, but a cell can patch the
// intrinsics those checks use, so what could hurt the host is checked again here.
import { byteLength } from '../json.js';
import { isImageDataUrl, type ToHostMessage } from '../isolate/sandbox-protocol.js';
import type { JsonValue, OutputItem, TerminationReason } from '../types.js';

/** The cell's reactions the messages lead to. */
export interface SandboxReactions {
  output(item: OutputItem): void;
  /** The cell returned a value at its top level: the value, when it is JSON. */
  returned(result: { result?: JsonValue }): void;
  /** Sends a notification; false when it could not be queued. */
  notify(message: string): boolean;
  tool(callId: string, index: number, json: string): void;
  store(key: string, json: string): void;
  /** yield_control(): the observer may get a yielded event. */
  yieldControl(): void;
  /** The module settled (`error` when it threw); `drain`: let its queued microtasks run first. */
  settle(error: string | undefined, unsettled: string, drain: boolean): void;
  /** exit(): the rejections left are not judged. */
  ignoreRejections(): void;
  setTimer(id: number, delayMs: number): void;
  clearTimer(id: number): void;
  handled(key: string): void;
  /** Clock readings for the journal ("t1,t2,…"). */
  clock(values: string): void;
  terminate(reason: TerminationReason): void;
}

export function reactToSandbox(message: ToHostMessage, cell: SandboxReactions, maxNotificationBytes: number): void {
  switch (message[0]) {
    case 'text':
      return cell.output({ type: 'text', text: message[1] });
    case 'returned':
      cell.returned(parsedOrNone(message[2]));
      return cell.output({ type: 'text', text: message[1] });
    case 'image':
      if (isImageDataUrl(message[1])) cell.output({ type: 'image', imageUrl: message[1], detail: message[2] });
      return;
    case 'notify': // over its size limit only if the cell bent its own check: it ends the cell
      if (message[1].trim() === '') return;
      if (byteLength(message[1]) > maxNotificationBytes || !cell.notify(message[1])) cell.terminate('outputLimit');
      return;
    case 'tool':
      return cell.tool(message[1], message[2], message[3]);
    case 'store':
      return cell.store(message[1], message[2]);
    case 'yield':
      return cell.yieldControl();
    case 'done':
      return cell.settle(undefined, message[1], true);
    case 'exit':
      // exit() ends the cell at once: no drain (a caught exit() cannot keep the isolate busy).
      cell.ignoreRejections();
      return cell.settle(undefined, message[1], false);
    case 'fault':
      return cell.settle(message[1], message[2], true);
    case 'timer':
      return cell.setTimer(message[1], message[2]);
    case 'clearTimer':
      return cell.clearTimer(message[1]);
    case 'handled':
      return cell.handled(message[1]);
    case 'clock':
      return cell.clock(message[1]);
    default: // a TO_HOST row without a case above does not compile
      return message satisfies never;
  }
}

/** The JSON a cell says it returned, parsed; none for '' or for what does not parse (a bent check). */
function parsedOrNone(json: string): { result?: JsonValue } {
  try {
    return json === '' ? {} : { result: JSON.parse(json) as JsonValue };
  } catch {
    return {};
  }
}
