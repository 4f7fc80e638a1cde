// Imported first by a process a bin relaunched with the Node flags it needs (launch.js): it ends
// at once when the process that started it is gone, so a SIGKILL of the process an operator
// started never leaves the real one serving as an orphan.
const channel = process.channel;
if (channel !== undefined) {
  channel.unref(); // the channel alone never keeps this process alive
  process.once('disconnect', () => {
    process.stderr.write('codecell: the process that started this one is gone; exiting\n');
    process.kill(process.pid, 'SIGKILL');
  });
}
