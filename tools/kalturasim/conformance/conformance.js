// Conformance check of the Kaltura simulator with the official Node client
// (kaltura-client 21.20.0): every request is encoded by the client itself.
//
// Environment: KALTURASIM_URL, KALTURASIM_PARTNER_ID, KALTURASIM_APPTOKEN_ID,
// KALTURASIM_APPTOKEN, KALTURASIM_HASHTYPE (SHA1|MD5|SHA256|SHA512),
// KALTURASIM_TEMPLATE_ENTRY_ID, KALTURASIM_RESOURCE_ID.
// Prints one JSON line (entryId, size, sha256) and exits 0, or exits 1.
'use strict';

const crypto = require('crypto');
const kaltura = require('kaltura-client');

function env(name) {
	const v = process.env[name];
	if (!v) {
		throw new Error('missing environment variable ' + name);
	}
	return v;
}

function check(cond, what) {
	if (!cond) {
		throw new Error('check failed: ' + what);
	}
}

// run executes a request builder; API errors reject with "CODE: message".
async function run(client, builder) {
	try {
		return await builder.execute(client);
	} catch (err) {
		if (err && err.code) {
			const e = new Error(err.code + ': ' + err.message);
			e.code = err.code;
			throw e;
		}
		throw err;
	}
}

async function main() {
	const config = new kaltura.Configuration();
	config.serviceUrl = env('KALTURASIM_URL');
	config.setLogger({ log() {}, error() {}, debug() {} });
	const client = new kaltura.Client(config);
	const partnerId = parseInt(env('KALTURASIM_PARTNER_ID'), 10);
	const hashType = env('KALTURASIM_HASHTYPE');

	// 1. Widget session (no KS).
	const widget = await run(client, kaltura.services.session.startWidgetSession('_' + partnerId));
	check(typeof widget.ks === 'string' && widget.ks.startsWith('djJ8'), 'widget ks');
	check(Number(widget.partnerId) === partnerId, 'widget partnerId');

	// 2. App-token session: tokenHash = hex(HASH(widgetKs + token)).
	client.setKs(widget.ks);
	const tokenHash = crypto.createHash(hashType.toLowerCase()).update(widget.ks + env('KALTURASIM_APPTOKEN')).digest('hex');
	const session = await run(client, kaltura.services.appToken.startSession(env('KALTURASIM_APPTOKEN_ID'), tokenHash));
	check(typeof session.ks === 'string' && session.ks !== widget.ks, 'app-token ks');
	check(String(session.privileges).includes('setrole:CAPTURE_DEVICE_ROLE'), 'privileges ' + session.privileges);
	client.setKs(session.ks);

	// 3. Chunked upload of a few MiB with resume/resumeAt/finalChunk.
	const size = 3 * 1024 * 1024 + 12345;
	const chunk = 1024 * 1024;
	const data = crypto.randomBytes(size);
	const token = await run(client, kaltura.services.uploadToken.add(new kaltura.objects.UploadToken({ fileName: 'rec.mp4', fileSize: size })));
	check(token.id && Number(token.status) === 0, 'upload token ' + JSON.stringify(token));
	for (let off = 0; off < size; off += chunk) {
		const part = data.subarray(off, Math.min(off + chunk, size));
		const last = off + chunk >= size;
		const res = await run(client, kaltura.services.uploadToken.upload(token.id, Buffer.from(part), off > 0, last, off));
		check(Number(res.uploadedFileSize) === off + part.length, 'uploadedFileSize at ' + off + ': ' + res.uploadedFileSize);
		check(Number(res.status) === (last ? 2 : 1), 'status at ' + off + ': ' + res.status);
	}

	// 4. Template check, media.add with the template, media.addContent.
	const templateId = env('KALTURASIM_TEMPLATE_ENTRY_ID');
	const template = await run(client, kaltura.services.baseEntry.get(templateId));
	check(template.id === templateId, 'template get');
	const entry = await run(client, kaltura.services.media.add(new kaltura.objects.MediaEntry({
		mediaType: kaltura.enums.MediaType.VIDEO,
		name: 'Conformance lecture',
		templateEntryId: templateId,
	})));
	check(/^0_[0-9a-z]{8}$/.test(entry.id) && Number(entry.status) === 7, 'entry ' + JSON.stringify(entry));
	check(entry.entitledUsersEdit === template.entitledUsersEdit, 'template copy (entitledUsersEdit)');
	const withContent = await run(client, kaltura.services.media.addContent(entry.id,
		new kaltura.objects.UploadedFileTokenResource({ token: token.id })));
	check(withContent.id === entry.id, 'addContent');
	const closed = await run(client, kaltura.services.uploadToken.get(token.id));
	check(Number(closed.status) === 3, 'token closed: ' + closed.status);
	let again = null;
	try {
		await run(client, kaltura.services.media.addContent(entry.id, new kaltura.objects.UploadedFileTokenResource({ token: token.id })));
	} catch (err) {
		again = err.code;
	}
	check(again === 'ENTRY_ALREADY_WITH_CONTENT', 'second addContent: ' + again);

	// 5. scheduleEvent.list as JSON with the recommended filter.
	const filter = new kaltura.objects.RecordScheduleEventFilter({
		resourceIdsLike: env('KALTURASIM_RESOURCE_ID'),
		recurrenceTypeIn: '0,2',
		statusIn: '1,2',
		orderBy: '+startDate',
	});
	const pager = new kaltura.objects.FilterPager({ pageSize: 500, pageIndex: 1 });
	const events = await run(client, kaltura.services.scheduleEvent.listAction(filter, pager));
	check(Array.isArray(events.objects) && events.objects.length > 0 && events.totalCount === events.objects.length, 'events ' + JSON.stringify(events).slice(0, 200));

	// 6. The CAPTURE_DEVICE role may not delete upload tokens.
	let forbidden = null;
	try {
		await run(client, kaltura.services.uploadToken.deleteAction(token.id));
	} catch (err) {
		forbidden = err.code;
	}
	check(forbidden === 'SERVICE_FORBIDDEN', 'uploadToken.delete: ' + forbidden);

	const sha256 = crypto.createHash('sha256').update(data).digest('hex');
	process.stdout.write(JSON.stringify({ entryId: entry.id, size, sha256, events: events.totalCount }) + '\n');
}

main().then(() => process.exit(0), (err) => {
	process.stderr.write('conformance: ' + (err && err.stack ? err.stack : String(err)) + '\n');
	process.exit(1);
});
