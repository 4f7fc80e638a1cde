// A real PostgreSQL server for the tests (issue 67): initdb into a temporary folder and postgres
// on a loopback port, from this machine's PostgreSQL binaries (Debian's `postgresql` package;
// `.ci/run` installs it where it is missing). As root the server runs as the `postgres` user.
// Where no binaries are found, startPostgres says why in one line (the test is skipped).
import { execFileSync, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface PgServer {
  /** For `pg` and postgresStore: the server's `postgres` database, as the `codecell` user. */
  connectionString: string;
  /** A new database of the server: its connection string. */
  createDatabase(name: string): string;
  /** Stops the server at once (as a crash would: `-m immediate`), and starts it again on the same port. */
  restart(): void;
  /** Stops it and removes its data. */
  stop(): void;
}

/** The folder of initdb and pg_ctl: $CODECELL_PG_BIN, else the newest /usr/lib/postgresql/<n>/bin. */
function binaries(): string | undefined {
  const given = process.env.CODECELL_PG_BIN;
  if (given !== undefined && given !== '') return given;
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root)
    .filter((name) => existsSync(join(root, name, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] === undefined ? undefined : join(root, versions[0], 'bin');
}

/** A loopback port nothing listens on now. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** A new server, started; or why there is none here. */
export async function startPostgres(): Promise<PgServer | { skip: string }> {
  const bin = binaries();
  if (bin === undefined) return { skip: "no PostgreSQL here (install Debian's postgresql, or set CODECELL_PG_BIN)" };
  const root = process.getuid?.() === 0;
  const dir = mkdtempSync(join(tmpdir(), 'codecell-pg-'));
  const data = join(dir, 'data');
  if (root) {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }));
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }));
    chownSync(dir, uid, gid);
  }
  /** Runs one of the server's programs (as postgres, when this is root); its output on failure. */
  const run = (program: string, args: string[]): void => {
    const command = root
      ? ['runuser', '-u', 'postgres', '--', join(bin, program), ...args]
      : [join(bin, program), ...args];
    const result = spawnSync(command[0] as string, command.slice(1), { encoding: 'utf8', timeout: 60_000 });
    if (result.status !== 0) throw new Error(`${program} failed: ${result.stderr}${result.stdout}`);
  };
  run('initdb', ['-D', data, '-U', 'codecell', '--auth=trust', '-E', 'UTF8', '--no-sync']);
  const port = await freePort();
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`;
  const start = (): void => run('pg_ctl', ['-D', data, '-l', join(dir, 'log'), '-w', '-o', options, 'start']);
  const stopNow = (): void => run('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']);
  start();
  const connectionString = `postgres://codecell@127.0.0.1:${port}/postgres`;
  return {
    connectionString,
    createDatabase: (name) => {
      const made = spawnSync(join(bin, 'psql'), [connectionString, '-qc', `CREATE DATABASE ${name}`], {
        encoding: 'utf8',
        timeout: 30_000,
      });
      if (made.status !== 0) throw new Error(`CREATE DATABASE ${name}: ${made.stderr}`);
      return `postgres://codecell@127.0.0.1:${port}/${name}`;
    },
    restart: () => {
      stopNow();
      start();
    },
    stop: () => {
      try {
        stopNow();
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}
