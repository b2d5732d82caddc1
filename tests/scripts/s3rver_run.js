// Starts s3rver (the npm package: the S3 API over local files) on 127.0.0.1 at a port the kernel
// picks, with one empty bucket, and prints "port <n>" on stdout once it listens. Started by
// tests/scripts/s3rver.sh; stops on SIGTERM/SIGINT, or when the process <watch pid> is gone (so a
// killed test script never leaves a server behind).
// Usage: node s3rver_run.js <module dir> <data dir> <bucket> <watch pid>
'use strict';
const path = require('path');
const [moduleDir, dataDir, bucket, watchPid] = process.argv.slice(2);
const S3rver = require(path.join(moduleDir, 'node_modules', 's3rver'));

// s3rver 3.7.1 answers a PUT before the object's file is written (putObject resolves when the
// body has been handed to the write stream, not when the stream has finished), and it writes the
// file in place: a GET right after a PUT, or during one, can see an empty or partial object. S3
// is read-after-write consistent and replaces an object atomically, and baims relies on that
// (it reads back .zgroup right after writing it). So objects are written here to a temporary file
// beside the object's, which is renamed into place once it is complete; the PUT is answered after.
const crypto = require('crypto');
const fs = require('fs');
const { pipeline } = require('stream/promises');
const { Transform } = require('stream');
const FilesystemStore = require(path.join(moduleDir, 'node_modules', 's3rver', 'lib', 'stores',
                                          'filesystem'));
let tmpCount = 0;
FilesystemStore.prototype.putObject = async function putObject(object) {
    const objectPath = this.getResourcePath(object.bucket, object.key, 'object');
    await fs.promises.mkdir(path.dirname(objectPath), { recursive: true });
    const tmp = objectPath + '.baims-put-' + process.pid + '-' + (tmpCount++);
    const md5 = crypto.createHash('md5');
    let size = 0;
    try {
        if (Buffer.isBuffer(object.content)) {
            await fs.promises.writeFile(tmp, object.content);
            md5.update(object.content);
            size = object.content.length;
        } else {
            const count = new Transform({
                transform(chunk, encoding, done) {
                    md5.update(chunk, encoding);
                    size += chunk.length;
                    done(null, chunk);
                },
            });
            await pipeline(object.content, count, fs.createWriteStream(tmp));
        }
        await fs.promises.rename(tmp, objectPath);
    } catch (err) {
        await fs.promises.rm(tmp, { force: true });
        throw err;
    }
    const digest = md5.digest('hex');
    await this.putMetadata(object.bucket, object.key, object.metadata, digest);
    return { size, md5: digest };
};

// CopyObject (baims' S3 store moves and publishes objects with it) has the same two faults in
// s3rver 3.7.1: the destination file is copied in place (a GET during the copy sees part of it),
// and with replacement metadata the destination keeps the MD5 file of whatever object it held
// before (a wrong ETag). Here the object is copied to a temporary file that is renamed into place,
// and its MD5 goes with it.
FilesystemStore.prototype.copyObject = async function copyObject(srcBucket, srcKey, destBucket,
                                                                 destKey, replacementMetadata) {
    const src = this.getResourcePath(srcBucket, srcKey, 'object');
    const dest = this.getResourcePath(destBucket, destKey, 'object');
    const srcMeta = await this.getMetadata(srcBucket, srcKey); // throws ENOENT as s3rver's does
    const digest = srcMeta.etag ? JSON.parse(srcMeta.etag) : undefined;
    if (src !== dest) {
        await fs.promises.mkdir(path.dirname(dest), { recursive: true });
        const tmp = dest + '.baims-copy-' + process.pid + '-' + (tmpCount++);
        try {
            await fs.promises.copyFile(src, tmp);
            await fs.promises.rename(tmp, dest);
        } catch (err) {
            await fs.promises.rm(tmp, { force: true });
            throw err;
        }
    }
    if (replacementMetadata) {
        await this.putMetadata(destBucket, destKey, replacementMetadata, digest);
    } else if (src !== dest) {
        const stored = await fs.promises.readFile(
            this.getResourcePath(srcBucket, srcKey, 'metadata.json')).catch((err) => {
            if (err.code === 'ENOENT') return undefined;
            throw err;
        });
        const md5Path = this.getResourcePath(destBucket, destKey, 'object.md5');
        if (digest) await fs.promises.writeFile(md5Path, digest);
        else await fs.promises.rm(md5Path, { force: true });
        const metaPath = this.getResourcePath(destBucket, destKey, 'metadata.json');
        if (stored) await fs.promises.writeFile(metaPath, stored);
        else await fs.promises.rm(metaPath, { force: true });
    }
    return this.getMetadata(destBucket, destKey);
};

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
