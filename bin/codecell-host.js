#!/usr/bin/env -S node --no-node-snapshot --max-semi-space-size=2
// codecell-host: JSON-RPC 2.0 over stdio (see README and SPEC §8).
import { launch } from './launch.js';
import { HOST_NODE_FLAGS } from '../dist/host/wire/host-process.js';

await launch(new URL('../dist/host/bin/codecell-host.js', import.meta.url), HOST_NODE_FLAGS);
