#!/usr/bin/env -S node --no-node-snapshot
// codecell: `codecell run <file|->` and `codecell mcp --upstream "<command>"` (see README).
import { launch } from './launch.js';

await launch(new URL('../dist/host/bin/codecell.js', import.meta.url));
