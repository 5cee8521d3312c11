// Whether an EventSource's dispatcher runs: read from its Deployment's status the way
// `kubectl rollout status` reads it. Ready once the deployment controller has seen the
// current generation and as many replicas as desired run the current template and are
// ready. Pure.

/** The parts of a Deployment that say how its rollout stands. */
export interface DeploymentState {
  metadata: { generation?: number };
  spec?: { replicas?: number };
  status?: {
    observedGeneration?: number;
    replicas?: number;
    readyReplicas?: number;
    updatedReplicas?: number;
  };
}

export interface DispatcherReadiness {
  ready: boolean;
  /** Desired replicas, and those ready (as the Deployment's status counts them). */
  replicas: number;
  readyReplicas: number;
  message: string;
}

/**
 * How the dispatcher stands. `desired` is the source's `spec.dispatcher.replicas`, used while
 * there is no Deployment to read (the operator has not written it, or the cache lags).
 */
export function dispatcherReadiness(
  deployment: DeploymentState | undefined,
  desired: number,
): DispatcherReadiness {
  const replicas = deployment?.spec?.replicas ?? desired;
  const status = deployment?.status ?? {};
  const readyReplicas = status.readyReplicas ?? 0;
  const counted = `${readyReplicas}/${replicas} dispatcher replicas ready`;
  if (!deployment) return { ready: false, replicas, readyReplicas, message: `${counted}: no Deployment yet` };

  const generation = deployment.metadata.generation ?? 0;
  if ((status.observedGeneration ?? 0) < generation) {
    return {
      ready: false,
      replicas,
      readyReplicas,
      message: `${counted}: the Deployment's generation ${generation} is not rolled out yet`,
    };
  }
  if (readyReplicas < replicas) return { ready: false, replicas, readyReplicas, message: counted };
  const updated = status.updatedReplicas ?? 0;
  if (updated < replicas) {
    return {
      ready: false,
      replicas,
      readyReplicas,
      message: `${counted}, but ${updated}/${replicas} run the current pod template`,
    };
  }
  // Old replicas still terminating are counted in status.replicas; they may be the ready ones.
  const total = status.replicas ?? 0;
  if (total > updated) {
    return {
      ready: false,
      replicas,
      readyReplicas,
      message: `${counted}, but ${total - updated} old replicas still run`,
    };
  }
  return { ready: true, replicas, readyReplicas, message: counted };
}
