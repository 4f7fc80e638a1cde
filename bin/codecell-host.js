#!/usr/bin/env -S node --no-node-snapshot
// codecell-host: JSON-RPC 2.0 over stdio (see README and SPEC §8).
import { launch } from './launch.js';

await launch(new URL('../dist/host/main.js', import.meta.url));
