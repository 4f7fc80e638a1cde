// The nemesis's hosts (issue 68): `codecell-host --listen` processes, each in a network namespace
// of its own joined to this one by a veth pair (root and `ip` needed), so taking the pair's end
// down here is a real partition: packets vanish, no RST. Where namespaces cannot be made, the hosts
// listen on loopback addresses instead and partitions are left out (`partitions` is false). The
// agents find the hosts through a `dns` entry whose answer is a file this writes: the addresses of
// the hosts that are up and not draining, as a headless Service's would be.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HOST_NODE_FLAGS } from '../../host/wire/host-process.js';
import { freePort } from '../../test/postgres-server.js';

const HOST = fileURLToPath(new URL('../../host/bin/codecell-host.js', import.meta.url));
/** How long a drained host serves its sessions (a nemesis cuts it shorter). */
const DRAIN_MS = 3_000;

/** One host: where it listens, and its process while it runs. */
export interface NemesisHost {
  index: number;
  address: string;
  /** Its namespace and this side's veth end (undefined on loopback). */
  namespace?: string;
  link?: string;
  process: ChildProcess | undefined;
  /** In the DNS answer only when `up` (a draining host has left it, as a terminating pod does). */
  state: 'up' | 'draining' | 'down';
  /** A nemesis is at work on it. */
  busy: boolean;
}

/** What the agents are given to find the hosts. */
export interface HostsAddress {
  /** The `dns` entry's name and port (`codecell-hosts:<port>`). */
  dns: string;
  /** The file whose JSON array of addresses answers it. */
  answers: string;
  token: string;
}

export class NemesisHosts {
  readonly hosts: NemesisHost[];
  readonly partitions: boolean;
  /** Why partitions are left out (when they are). */
  readonly leftOut: string | undefined;
  readonly port: number;
  readonly address: HostsAddress;
  readonly #tokenFile: string;
  readonly #tag: string;

  /** `leftOut`: why there are no namespaces (undefined: make them). */
  private constructor(dir: string, count: number, port: number, leftOut: string | undefined) {
    this.#tag = `ccn${process.pid}`;
    this.partitions = leftOut === undefined;
    this.leftOut = leftOut;
    this.port = port;
    const subnet = 64 + (process.pid % 64);
    this.hosts = Array.from({ length: count }, (_, i) =>
      this.partitions
        ? {
            index: i,
            address: `10.${subnet}.${i + 1}.2`,
            namespace: `${this.#tag}-${i}`,
            link: `${this.#tag}h${i}`,
            process: undefined,
            state: 'down' as const,
            busy: false,
          }
        : { index: i, address: `127.0.0.${i + 2}`, process: undefined, state: 'down' as const, busy: false },
    );
    this.#tokenFile = join(dir, 'token');
    const token = `nemesis-${process.pid}`;
    writeFileSync(this.#tokenFile, token);
    this.address = { dns: `codecell-hosts:${port}`, answers: join(dir, 'hosts.json'), token };
    if (this.partitions)
      for (const host of this.hosts) {
        const { namespace, link } = host as Required<NemesisHost>;
        const [here, there] = [`10.${subnet}.${host.index + 1}.1/24`, `${host.address}/24`];
        ip('netns', 'add', namespace);
        ip('link', 'add', link, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', namespace);
        ip('addr', 'add', here, 'dev', link);
        ip('link', 'set', link, 'up');
        ip('-n', namespace, 'addr', 'add', there, 'dev', 'eth0');
        ip('-n', namespace, 'link', 'set', 'eth0', 'up');
        ip('-n', namespace, 'link', 'set', 'lo', 'up');
      }
  }

  /** Hosts in namespaces where this process may make them, else on loopback; none started yet. */
  static async make(dir: string, count: number): Promise<NemesisHosts> {
    const why = namespacesUnusable();
    const port = why === undefined ? 7_400 : await freePort();
    try {
      return new NemesisHosts(dir, count, port, why);
    } catch (error) {
      // Made halfway (say, veth pairs not allowed): what was made goes, and loopback it is.
      removeNamespaces(`ccn${process.pid}`);
      return new NemesisHosts(dir, count, await freePort(), `cannot make namespaces: ${(error as Error).message}`);
    }
  }

  /** Starts the host's process and waits until it listens; then it is in the DNS answer. */
  async start(host: NemesisHost): Promise<void> {
    const command = [...HOST_NODE_FLAGS, HOST, '--listen', `${host.address}:${this.port}`];
    command.push('--token-file', this.#tokenFile, '--drain-ms', String(DRAIN_MS));
    const child =
      host.namespace === undefined
        ? spawn(process.execPath, command, { stdio: ['ignore', 'ignore', 'pipe'] })
        : spawn('ip', ['netns', 'exec', host.namespace, process.execPath, ...command], {
            stdio: ['ignore', 'ignore', 'pipe'],
          });
    host.process = child;
    let said = '';
    const listening = new Promise<void>((resolve, reject) => {
      child.stderr?.on('data', (chunk: Buffer) => {
        said += chunk.toString();
        if (said.includes('codecell-host listening on')) resolve();
      });
      child.once('exit', (code) => reject(new Error(`host ${host.index} exited (${code}): ${said.slice(0, 300)}`)));
    });
    await listening;
    host.state = 'up';
    this.answer();
  }

  /** The host's process is killed (SIGKILL), and it leaves the DNS answer. */
  async kill(host: NemesisHost): Promise<void> {
    const child = host.process;
    host.process = undefined;
    host.state = 'down';
    this.answer();
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGCONT'); // a stopped process dies at once either way; this keeps `ip netns exec` simple
    child.kill('SIGKILL');
    await once(child, 'exit');
  }

  /** SIGTERM: the host drains (its clients move their sessions away); it leaves the DNS answer. */
  drain(host: NemesisHost): void {
    host.state = 'draining';
    this.answer();
    host.process?.kill('SIGTERM');
  }

  signal(host: NemesisHost, signal: 'SIGSTOP' | 'SIGCONT'): void {
    host.process?.kill(signal);
  }

  /** Takes the host's link down (a partition) or up again. */
  link(host: NemesisHost, up: boolean): void {
    if (host.link !== undefined) ip('link', 'set', host.link, up ? 'up' : 'down');
  }

  /** Writes the DNS answer: the hosts that are up. */
  answer(): void {
    const up = this.hosts.filter((host) => host.state === 'up');
    writeFileSync(this.address.answers, JSON.stringify(up.map((host) => host.address)));
  }

  /** Everything heals: each link up, each stopped host continued, each host not up (re)started. */
  async heal(): Promise<void> {
    for (const host of this.hosts) {
      this.link(host, true);
      this.signal(host, 'SIGCONT');
    }
    for (const host of this.hosts) if (host.state !== 'up' || !running(host)) await this.restart(host);
  }

  /** Killed (if it runs), then started again. */
  async restart(host: NemesisHost): Promise<void> {
    await this.kill(host);
    await this.start(host);
  }

  /** Stops every host and removes the namespaces. */
  async close(): Promise<void> {
    for (const host of this.hosts) {
      this.signal(host, 'SIGCONT');
      await this.kill(host);
    }
    removeNamespaces(this.#tag);
  }
}

const running = (host: NemesisHost): boolean =>
  host.process !== undefined && host.process.exitCode === null && host.process.signalCode === null;

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** Why namespaces cannot be made here, or undefined when they can be tried. */
function namespacesUnusable(): string | undefined {
  if (process.getuid?.() !== 0) return 'not root';
  try {
    execFileSync('ip', ['netns', 'list'], { stdio: 'ignore' });
  } catch {
    return 'no `ip netns`';
  }
  // A run that was killed may have left its namespaces: those of processes that are gone go.
  for (const line of execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).split('\n')) {
    const match = /^(ccn(\d+))-\d+/.exec(line);
    if (match === null) continue;
    if (!isRunning(Number(match[2]))) removeNamespaces(match[1] as string);
  }
  return undefined;
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function removeNamespaces(tag: string): void {
  let list = '';
  try {
    list = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  } catch {
    return; // no `ip`: nothing was made
  }
  for (const line of list.split('\n')) {
    const name = line.split(' ')[0] ?? '';
    if (name.startsWith(`${tag}-`)) execFileSync('ip', ['netns', 'del', name], { stdio: 'ignore' });
  }
}
