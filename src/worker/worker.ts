// The dedicated module worker createFinetuner spawns: one FinetuneEngine, exposed through comlink.
import * as Comlink from 'comlink';
import { FinetuneEngine } from './engine';
import { installErrorTransfer } from './errors';

installErrorTransfer();
Comlink.expose(new FinetuneEngine());
