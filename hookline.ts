#!/usr/bin/env node
// `hookline`: the one entry point of the image and the package.
//   hookline operator [flags]                  run the operator
//   hookline dispatcher --namespace --source   run the dispatcher of one EventSource
//   hookline sign --scheme <scheme> ...        print the headers a delivery of stdin would carry
//   hookline verify --scheme <scheme> ...      check a captured request the way a receiver would
//   hookline status|attempts|reenable|replay|send-test ...
//                                              what `kubectl hookline` does (cli/main.ts)
import { runSignCommand, runVerifyCommand } from './dispatcher/sign-cli.ts';

const [command, ...rest] = process.argv.slice(2);

async function main(): Promise<number> {
  switch (command) {
    case 'operator': {
      const { runOperator } = await import('./operator/main.ts');
      return runOperator(rest, process.env);
    }
    case 'dispatcher': {
      const { runDispatcher } = await import('./dispatcher/main.ts');
      await runDispatcher(rest, process.env);
      return 0;
    }
    case 'sign':
      return runSignCommand(rest, process.stdin, process.stdout);
    case 'verify':
      return runVerifyCommand(rest, process.stdin, process.stdout);
    case 'status':
    case 'attempts':
    case 'reenable':
    case 'replay':
    case 'send-test': {
      const { processIo, runCli } = await import('./cli/main.ts');
      return runCli([command, ...rest], processIo());
    }
    default:
      process.stderr.write(
        'usage: hookline operator|dispatcher|sign|verify|status|attempts|reenable|replay|send-test [flags]\n' +
          '  hookline sign --scheme <scheme> [--secret-file <file>] [--id <id>] [--timestamp <unix>] [--url <url>] < body\n' +
          '  hookline verify --scheme <scheme> --secret-file <file> --headers-file <file> [--url <url>] < body\n' +
          '  hookline status|attempts|reenable|replay|send-test ...: see hookline status --help (also kubectl hookline)\n',
      );
      return 2;
  }
}

main().then(
  (code) => {
    if (code >= 0) process.exit(code);
  },
  (error: unknown) => {
    process.stderr.write(
      `hookline ${command ?? ''}: ${error instanceof Error ? error.message : String(error)}\n`,
    );
    process.exit(1);
  },
);
