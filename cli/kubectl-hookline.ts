#!/usr/bin/env node
// `kubectl-hookline`: the kubectl plugin (kubectl runs it for `kubectl hookline …`), and the
// same commands as `hookline status|attempts|reenable|replay|send-test`. See cli/main.ts.
import { processIo, runCli } from './main.ts';

runCli(process.argv.slice(2), processIo()).then(
  // Exit once what was printed is out, without waiting for idle keep-alive connections.
  (code) => process.stdout.write('', () => process.exit(code)),
  (error: unknown) => {
    process.stderr.write(`kubectl-hookline: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
