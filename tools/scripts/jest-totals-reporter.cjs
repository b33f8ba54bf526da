// A jest reporter that writes this project's test totals to $TT_TEST_RESULTS_DIR, so that
// run-tests.mjs can print one "N passed, N failed" line for the whole workspace.
const { mkdirSync, writeFileSync } = require('node:fs');
const { join } = require('node:path');

class TotalsReporter {
  constructor(globalConfig) {
    this.name = (globalConfig.rootDir ?? 'project').split(/[\\/]/).slice(-2).join('-');
  }
  onRunComplete(_contexts, results) {
    const dir = process.env.TT_TEST_RESULTS_DIR;
    if (!dir) return;
    mkdirSync(dir, { recursive: true });
    // a suite that fails to run (syntax error, crash in a hook) counts as one failed test
    const brokenSuites = results.testResults.filter((r) => r.testExecError || (r.failureMessage && r.numFailingTests === 0)).length;
    writeFileSync(
      join(dir, `${this.name}.json`),
      JSON.stringify({
        passed: results.numPassedTests,
        failed: results.numFailedTests + brokenSuites,
        skipped: results.numPendingTests + results.numTodoTests,
        // titles of the skipped tests: a skip says why in its title (e.g. a module that cannot install here)
        skippedTitles: results.testResults.flatMap((r) => r.testResults.filter((t) => t.status === 'pending' || t.status === 'todo').map((t) => t.fullName)),
      }),
    );
  }
}
module.exports = TotalsReporter;
