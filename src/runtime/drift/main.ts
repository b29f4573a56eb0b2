import { type CheckResult, runCheck } from './check';
import { type CliOptions, USAGE, parseArgs } from './cli';
import { DataMissingError, exitCodeOf } from './errors';
import { type PushTarget, pushMetrics, renderDataMissing, renderMetrics } from './push';

/**
 * `mlops-drift check ...`: runs the check, pushes the metrics when asked, then prints the
 * result. The order matters: nothing reaches stdout until every step succeeded, so a run
 * that fails (exit 1, 2 or 3) never leaves a "drifted": false behind for anyone to read.
 * Progress and failures are JSON lines on stderr.
 */
export async function main(argv: readonly string[] = process.argv.slice(2), env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const started = process.hrtime.bigint();
  let options: CliOptions;
  try {
    const parsed = parseArgs(argv, env);
    if (parsed.help) {
      process.stdout.write(`${USAGE}\n`);
      return 0;
    }
    options = parsed;
  } catch (err) {
    process.stderr.write(`mlops-drift: ${(err as Error).message}\n`);
    return exitCodeOf(err);
  }

  try {
    const result = await runCheck(options.check);
    const durationSeconds = Number(process.hrtime.bigint() - started) / 1e9;
    log('checked', {
      reference: options.check.reference,
      current: options.check.current,
      period: options.period,
      rows: result.rows,
      rowsRead: result.rowsRead,
      missing: result.missing,
      // Features the data made categorical, with the value that did: a stray token in a
      // numeric column shows here (list the column nowhere, or clean the data).
      ...(Object.keys(result.inferredCategorical).length > 0 ? { inferredCategorical: result.inferredCategorical } : {}),
      driftShare: result.driftShare,
      drifted: result.drifted,
      ...(result.quality ? { quality: result.quality } : {}),
      durationSeconds,
    });
    if (result.mostlyDistinct.length > 0) {
      log('mostly distinct', {
        features: result.mostlyDistinct,
        hint: 'more than half of the current values of these categorical features are distinct (an identifier, a timestamp, free text?), so they nearly always drift; leave them out with --features',
      }, 'warn');
    }
    if (options.push) {
      await pushMetrics(options.push, renderMetrics(result, durationSeconds, Date.now() / 1000));
      log('pushed', { pushgateway: options.push.url, namespace: options.push.namespace, model: options.push.model, ...(options.push.shard !== undefined ? { shard: options.push.shard } : {}) });
    }
    process.stdout.write(options.json ? `${JSON.stringify(toJson(result))}\n` : table(result));
    return 0;
  } catch (err) {
    const code = exitCodeOf(err);
    log('failed', { exitCode: code, error: (err as Error).message, current: options.check.current, period: options.period }, 'error');
    process.stderr.write(`mlops-drift: ${(err as Error).message}\n`);
    if (err instanceof DataMissingError && options.push) await reportDataMissing(options.push);
    return code;
  }
}

/** Sets mlops_drift_data_missing to 1 for the group; a push that fails is logged, and the run still exits 3. */
async function reportDataMissing(target: PushTarget): Promise<void> {
  try {
    await pushMetrics(target, renderDataMissing(), { method: 'POST' });
    log('pushed', { pushgateway: target.url, namespace: target.namespace, model: target.model, dataMissing: true, ...(target.shard !== undefined ? { shard: target.shard } : {}) });
  } catch (err) {
    log('push failed', { error: (err as Error).message }, 'error');
  }
}

function log(event: string, fields: Record<string, unknown>, level = 'info'): void {
  process.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), level, program: 'mlops-drift', event, ...fields })}\n`);
}

/** JSON cannot hold Infinity (a chi-square with a category unseen in the reference): the largest double stands in. */
const finite = (x: number) => (x === Infinity ? Number.MAX_VALUE : x === -Infinity ? -Number.MAX_VALUE : x);

/** Exactly the contract's shape (docs/architecture.md, "Contracts": the drift CLI). */
export function toJson(result: CheckResult) {
  return {
    features: result.features.map((f) => ({
      feature: f.feature,
      method: f.method,
      statistic: finite(f.statistic),
      pValue: f.pValue,
      threshold: f.threshold,
      drifted: f.drifted,
    })),
    driftShare: result.driftShare,
    drifted: result.drifted,
    rows: { reference: result.rows.reference, current: result.rows.current },
    // Always present, so a consumer can tell "no labels given" (null) from a missing field;
    // the same numbers as the text output's quality line and mlops_model_quality{metric}.
    quality: result.quality ? { ...result.quality } : null,
  };
}

function table(result: CheckResult): string {
  const rows = [['feature', 'method', 'statistic', 'p-value', 'threshold', 'drifted']];
  for (const f of result.features) {
    rows.push([f.feature, f.method, f.statistic.toPrecision(6), f.pValue === null ? '-' : f.pValue.toPrecision(6), String(f.threshold), f.drifted ? 'yes' : 'no']);
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  const lines = rows.map((r) => r.map((cell, i) => cell.padEnd(widths[i])).join('  ').trimEnd());
  const drifted = result.features.filter((f) => f.drifted).length;
  lines.push('', `drifted features: ${drifted} of ${result.features.length} (${result.driftShare.toFixed(2)}); dataset drift: ${result.drifted ? 'yes' : 'no'}`);
  lines.push(`rows: reference ${result.rows.reference}, current ${result.rows.current}`);
  if (result.quality) lines.push(`quality: ${Object.entries(result.quality).map(([k, v]) => `${k} ${v.toPrecision(4)}`).join(', ')}`);
  return `${lines.join('\n')}\n`;
}

if (require.main === module) {
  main().then(
    (code) => {
      process.exitCode = code;
    },
    (err: Error) => {
      process.stderr.write(`mlops-drift: ${err.stack ?? err.message}\n`);
      process.exitCode = 1;
    },
  );
}
