import { hvsimProject } from '../../vitest.package.ts';

export default hvsimProject(import.meta.dirname);
