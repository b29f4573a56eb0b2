import { Chart } from 'cdk8s';
import { Construct } from 'constructs';
import { BUNDLES } from '../../contract';
import { claimObjectNames } from '../core/object-names';
import { requireDnsLabel } from '../core/validation';
import { addBundleConfigMap, BundleMount, bundleMount, workloadLabels } from '../core/workload';

/** The ConfigMap that ships the bundled drift checker, which DriftMonitors of one namespace mount. */
export interface IDriftCheckerBundle {
  /** Name of the ConfigMap. */
  readonly configMapName: string;
  /** Its namespace: a pod can only mount a ConfigMap of its own. */
  readonly namespace: string;
}

/** Properties of a DriftCheckerBundle. */
export interface DriftCheckerBundleProps {
  /** Namespace of the ConfigMap: that of the DriftMonitors that mount it. */
  readonly namespace: string;
  /** Name of the ConfigMap. @default DEFAULT_DRIFT_CHECKER_CONFIGMAP */
  readonly name?: string;
}

/** The ConfigMap name `DriftCheckerBundle.of` gives the chart's bundle in each namespace. */
export const DEFAULT_DRIFT_CHECKER_CONFIGMAP = 'mlops-drift-checker';

const KIND = 'DriftCheckerBundle';
const VOLUME = 'checker';

/**
 * The drift checker program (about 300 KB) in one ConfigMap per namespace and chart, instead
 * of a copy per DriftMonitor. `DriftCheckerBundle.of(scope, namespace)` returns the chart's
 * bundle for that namespace, created on first use; a monitor uses it unless given another.
 */
export class DriftCheckerBundle extends Construct implements IDriftCheckerBundle {
  /** The chart's bundle in `namespace`, created on first use. */
  public static of(scope: Construct, namespace: string): DriftCheckerBundle {
    const chart = Chart.of(scope);
    const id = `DriftChecker-${namespace}`;
    const existing = chart.node.tryFindChild(id);
    if (existing instanceof DriftCheckerBundle) return existing;
    if (existing !== undefined) {
      throw new Error(`${KIND} ${chart.node.path}/${id}: the id is taken by another construct; pass checkerBundle to the DriftMonitor explicitly`);
    }
    return new DriftCheckerBundle(chart, id, { namespace });
  }

  public readonly configMapName: string;
  public readonly namespace: string;

  constructor(scope: Construct, id: string, props: DriftCheckerBundleProps) {
    super(scope, id);
    this.namespace = requireDnsLabel(KIND, this, 'namespace', props.namespace, 63);
    this.configMapName = requireDnsLabel(KIND, this, 'name', props.name ?? DEFAULT_DRIFT_CHECKER_CONFIGMAP, 63);
    const { labels } = workloadLabels(this.configMapName, 'drift-check');
    addBundleConfigMap(this, 'Resource', { name: this.configMapName, namespace: this.namespace, labels }, BUNDLES.driftChecker, VOLUME);
    claimObjectNames(KIND, this);
  }
}

/** The volume, mount and command a DriftMonitor's container runs the checker with from `bundle`. */
export function checkerMount(bundle: IDriftCheckerBundle): BundleMount {
  return bundleMount(bundle.configMapName, BUNDLES.driftChecker, VOLUME);
}
