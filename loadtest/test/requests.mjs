// node loadtest/test/requests.mjs SCRIPT EXEC N: prints, as JSON, the first N requests the k6
// script's EXEC function sends. The generator's tests compare them with its own.
import { requests } from './harness.mjs';

const [script, exec, n] = process.argv.slice(2);
process.stdout.write(JSON.stringify(await requests(script, exec, Number(n))));
