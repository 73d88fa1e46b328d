import { hvsimProject } from '../../vitest.package';

export default hvsimProject(import.meta.dirname);
