import { MemoryStore } from '../../services/node/src/store/memory-store';
import { storeCompliance } from './store-compliance';

storeCompliance('memory', async () => new MemoryStore());
