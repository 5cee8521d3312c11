// Starting, watching and stopping the daemons of the test environment. Daemons run in
// their own process group, detached from the process that started them, so that
// `env:up` can return while they keep running; their pids go into the state file.
import { spawn, execFile } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export class EnvError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'EnvError';
    this.code = code;
  }
}

/** An Error for anything thrown or passed to a callback (watch callbacks hand over plain objects). */
export function asError(value: unknown): Error {
  if (value instanceof Error) return value;
  return new Error(typeof value === 'string' ? value : JSON.stringify(value));
}

export interface DaemonSpec {
  command: string;
  args: readonly string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  logFile: string;
}

export function startDaemon(spec: DaemonSpec): number {
  const log = fs.openSync(spec.logFile, 'a');
  try {
    const child = spawn(spec.command, spec.args, {
      cwd: spec.cwd,
      env: spec.env ?? process.env,
      detached: true,
      stdio: ['ignore', log, log],
    });
    if (child.pid === undefined) {
      throw new EnvError('SpawnFailed', `could not start ${spec.command}; see ${spec.logFile}`);
    }
    child.unref();
    return child.pid;
  } finally {
    fs.closeSync(log);
  }
}

export function isAlive(pid: number | undefined): boolean {
  if (pid === undefined) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}

/** SIGTERM to the daemon's process group, SIGKILL after `graceMs`; resolves once it is gone. */
export async function stopDaemon(pid: number | undefined, graceMs = 15_000): Promise<void> {
  if (pid === undefined || !isAlive(pid)) return;
  signalGroup(pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (isAlive(pid) && Date.now() < deadline) await sleep(100);
  if (isAlive(pid)) {
    signalGroup(pid, 'SIGKILL');
    while (isAlive(pid)) await sleep(50);
  }
}

/** SIGKILL to the daemon's process group, as `kill -9` would; resolves once it is gone. */
export async function killDaemon(pid: number): Promise<void> {
  signalGroup(pid, 'SIGKILL');
  while (isAlive(pid)) await sleep(50);
}

/** A state file's JSON, or undefined when it is missing or unreadable. */
export function readJsonFile<T>(file: string): T | undefined {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

/** Writes a state file whole or not at all (a reader never sees half of it). */
export function writeJsonFile(file: string, value: unknown): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(`${file}.tmp`, JSON.stringify(value, null, 2));
  fs.renameSync(`${file}.tmp`, file);
}

export function tail(file: string, lines = 25): string {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

export interface WaitOptions {
  what: string;
  timeoutMs: number;
  intervalMs?: number;
  /** A daemon that must stay alive while we wait; its death ends the wait at once. */
  pid?: number;
  logFile?: string;
}

export async function waitUntil(check: () => Promise<boolean>, options: WaitOptions): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    if (options.pid !== undefined && !isAlive(options.pid)) {
      throw new EnvError(
        'DaemonExited',
        `${options.what}: the process exited while starting` +
          (options.logFile ? `; last lines of ${options.logFile}:\n${tail(options.logFile)}` : ''),
      );
    }
    try {
      if (await check()) return;
    } catch (error) {
      lastError = error;
    }
    await sleep(options.intervalMs ?? 250);
  }
  throw new EnvError(
    'StartTimeout',
    `${options.what}: not healthy after ${options.timeoutMs} ms` +
      (lastError instanceof Error ? ` (last error: ${lastError.message})` : '') +
      (options.logFile ? `; last lines of ${options.logFile}:\n${tail(options.logFile)}` : ''),
    { cause: lastError },
  );
}

export function portOpen(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host });
    socket.setTimeout(1000);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Fails with the component's name when something else already holds one of its ports. */
export async function assertPortsFree(component: string, ports: readonly number[]): Promise<void> {
  for (const port of ports) {
    if (await portOpen(port)) {
      throw new EnvError(
        'PortInUse',
        `${component}: port ${port} on 127.0.0.1 is already in use by another process. ` +
          'Stop it, or move the environment with HOOKLINE_ENV_PORT_BASE=<port>.',
      );
    }
  }
}

export interface RunResult {
  stdout: string;
  stderr: string;
}

/** Runs a command to completion; on failure the error carries its stderr. */
export function run(
  command: string,
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number; input?: string } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      command,
      args,
      {
        env: options.env ?? process.env,
        cwd: options.cwd,
        timeout: options.timeoutMs ?? 0,
        maxBuffer: 64 * 1024 * 1024,
      },
      (error, stdout, stderr) => {
        if (error) {
          reject(
            new EnvError(
              'CommandFailed',
              `${command} ${args.join(' ')} failed: ${error.message}\n${stderr}`,
              {
                cause: error,
              },
            ),
          );
        } else {
          resolve({ stdout, stderr });
        }
      },
    );
    if (options.input !== undefined) child.stdin?.end(options.input);
  });
}

/** Runs a long command whose output goes to the terminal (stderr), for builds and downloads. */
export function runVisible(
  command: string,
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string } = {},
): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      env: options.env ?? process.env,
      cwd: options.cwd,
      stdio: ['ignore', process.stderr, process.stderr],
    });
    child.once('error', (error) =>
      reject(new EnvError('CommandFailed', `${command} could not run: ${error.message}`, { cause: error })),
    );
    child.once('exit', (code, signal) => {
      if (code === 0) resolve();
      else
        reject(new EnvError('CommandFailed', `${command} ${args.join(' ')} exited with ${code ?? signal}`));
    });
  });
}

export async function which(command: string): Promise<string | undefined> {
  try {
    const { stdout } = await run('bash', ['-c', `command -v ${command}`]);
    return stdout.trim() || undefined;
  } catch {
    return undefined;
  }
}
