// The entry point of a worker process (what the primary's cluster.fork runs).
import { runWorker } from './worker.js';

runWorker();
