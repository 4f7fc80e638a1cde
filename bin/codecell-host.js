#!/usr/bin/env -S node --no-node-snapshot --max-semi-space-size=2
// codecell-host: JSON-RPC 2.0 over stdio (see README and SPEC §8).
import { launch } from './launch.js';
import { HOST_NODE_FLAGS } from '../dist/host/node-flags.js';

await launch(new URL('../dist/host/main.js', import.meta.url), HOST_NODE_FLAGS);
