import type { Logger } from './types.js';

/** The default logger: warnings and errors to the console's stderr streams. */
export const consoleLogger: Logger = {
  warn: (message) => console.warn(message),
  error: (message) => console.error(message),
};
