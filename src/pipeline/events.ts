/**
 * What the pipeline tells the outside world while it runs. Stages emit these; the UI (src/ui/) only renders them, and
 * the API can listen too. No stage waits on a listener.
 */
import { EventEmitter } from 'node:events';

/** Where one component is. */
export type ComponentPhase =
  | 'queued'
  | 'stored' // its layer is in the store: nothing to build
  | 'pull' // from a --cache-from registry
  | 'download'
  | 'waiting' // for the layers it is built against
  | 'unpack'
  | 'patch'
  | 'configure'
  | 'compile'
  | 'install'
  | 'store' // writing its layer
  | 'done'
  | 'failed'
  | 'cancelled';

/** The steps after the components. */
export type StackStep = 'assemble' | 'verify' | 'python-package' | 'activate' | 'drop-in';

export type BuildEvent =
  | {
      type: 'plan';
      components: { name: string; version: string; layer: string; stored: boolean }[];
      /** The stack steps this build will run, in order. */
      steps?: StackStep[];
      stackId: string;
      prefix: string;
    }
  | {
      type: 'component';
      name: string;
      version: string;
      phase: ComponentPhase;
      /** One line: what is happening ("sha256 ok", "layer 3f2a… stored"), or why it failed. */
      detail?: string;
      /** Seconds the last build of this component took, when recorded. */
      estimateSeconds?: number;
    }
  | { type: 'download'; name: string; transferred: number; total?: number; url: string }
  | { type: 'step'; step: StackStep; state: 'start' | 'done' | 'skipped' | 'failed'; detail?: string }
  | { type: 'output'; name: string; line: string }
  | { type: 'note'; text: string };

export class BuildEvents extends EventEmitter<{ event: [BuildEvent] }> {
  send(event: BuildEvent): void {
    this.emit('event', event);
  }
}
