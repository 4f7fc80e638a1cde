// What the cell-semantics test files share: an echo tool and a way to run one cell.
import type { CellEvent } from '../src/index.js';
import { RecordingDelegate } from './helpers.js';

export const ECHO = [{ name: 'echo' }];
export const echo = (): RecordingDelegate => new RecordingDelegate({ echo: ({ input }) => input });

/** Runs `source` in `session` and resolves with its initial event. */
export async function run(
  session: {
    execute(request: {
      source: string;
      language?: 'javascript' | 'typescript';
    }): Promise<{ initialEvent: Promise<CellEvent> }>;
  },
  source: string,
  language?: 'javascript' | 'typescript',
): Promise<CellEvent> {
  const { initialEvent } = await session.execute(language === undefined ? { source } : { source, language });
  return initialEvent;
}
