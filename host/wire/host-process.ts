// How a codecell-host process is started, whoever starts it (its bin, HostClient.spawn): the
// Node flags it runs with.
// isolated-vm needs --no-node-snapshot. A small young generation keeps a long-lived host's memory
// flat: at hundreds of cells a second V8 otherwise grows it to tens of MiB, and with it the RSS
// (measured: RSS +4 MiB from cell 1 000 to 5 000 with it, +30 MiB and rising without).
export const HOST_NODE_FLAGS = ['--no-node-snapshot', '--max-semi-space-size=2'];
