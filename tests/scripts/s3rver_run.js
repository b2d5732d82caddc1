// Starts s3rver (the npm package: the S3 API over local files) on 127.0.0.1 at a port the kernel
// picks, with one empty bucket, and prints "port <n>" on stdout once it listens. Started by
// tests/scripts/s3rver.sh; stops on SIGTERM/SIGINT, or when the process <watch pid> is gone (so a
// killed test script never leaves a server behind).
// Usage: node s3rver_run.js <module dir> <data dir> <bucket> <watch pid>
'use strict';
const path = require('path');
const [moduleDir, dataDir, bucket, watchPid] = process.argv.slice(2);
const S3rver = require(path.join(moduleDir, 'node_modules', 's3rver'));
const server = new S3rver({
    address: '127.0.0.1',
    port: 0,
    silent: true,
    directory: dataDir,
    configureBuckets: [{ name: bucket }],
});
server.run().then((addr) => {
    process.stdout.write('port ' + addr.port + '\n');
}, (err) => {
    process.stderr.write('s3rver_run.js: cannot start s3rver: ' + err.message + '\n');
    process.exit(1);
});
const stop = () => server.close().then(() => process.exit(0), () => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
setInterval(() => {
    try {
        process.kill(Number(watchPid), 0);
    } catch (e) {
        stop();
    }
}, 1000).unref();
