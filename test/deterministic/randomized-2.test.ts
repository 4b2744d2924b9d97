import { scenarioWindow } from './randomized';

jest.setTimeout(1_200_000);

scenarioWindow(2);
