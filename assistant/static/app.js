// Hearth staff app: progressive enhancement. Pages work without this file where they can
// (signing in, pasting a transcript, reading a draft); it adds uploads and recording, live
// progress and the link from a draft sentence to the transcript words it rests on.
'use strict';

function $(sel, root) { return (root || document).querySelector(sel); }
function $all(sel, root) { return Array.prototype.slice.call((root || document).querySelectorAll(sel)); }

function showError(message) {
  let box = $('#error');
  if (!box) {
    box = document.createElement('p');
    box.id = 'error';
    box.className = 'error';
    box.setAttribute('role', 'alert');
    $('main h1').insertAdjacentElement('afterend', box);
  }
  box.textContent = message;
}

// The API answers errors as {"error":{"message": …}}.
async function errorText(response) {
  try {
    const body = await response.json();
    return (body.error && body.error.message) || ('The server answered ' + response.status);
  } catch (_) {
    return 'The server answered ' + response.status;
  }
}

// New draft: audio goes to the API as the request body; a pasted transcript as JSON.
function setUpScribeForm() {
  const form = $('#scribe-form');
  if (!form) return;
  let recorded = null;
  let recorder = null;
  const start = $('#record-start');
  const stop = $('#record-stop');
  const state = $('#record-state');
  if (!window.MediaRecorder || !navigator.mediaDevices) {
    start.disabled = true;
    state.textContent = 'This browser cannot record; upload a file instead.';
  }
  start.addEventListener('click', async () => {
    try {
      const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
      const chunks = [];
      // Containers the scribe decodes, in order of preference (WebM and Ogg carry Opus).
      const type = ['audio/webm;codecs=opus', 'audio/ogg;codecs=opus', 'audio/mp4'].find((t) => MediaRecorder.isTypeSupported(t));
      recorder = type ? new MediaRecorder(stream, { mimeType: type }) : new MediaRecorder(stream);
      recorder.ondataavailable = (e) => { if (e.data.size) chunks.push(e.data); };
      recorder.onstop = () => {
        stream.getTracks().forEach((t) => t.stop());
        recorded = new Blob(chunks, { type: recorder.mimeType || 'audio/webm' });
        state.textContent = 'Recorded ' + Math.round(recorded.size / 1024) + ' KB. Start the draft to send it.';
        $('#from-dictation').checked = true;
      };
      recorder.start();
      start.disabled = true;
      stop.disabled = false;
      state.textContent = 'Recording…';
    } catch (e) {
      state.textContent = 'The microphone could not be opened: ' + e.message;
    }
  });
  stop.addEventListener('click', () => {
    if (recorder && recorder.state !== 'inactive') recorder.stop();
    start.disabled = false;
    stop.disabled = true;
  });
  form.addEventListener('submit', async (event) => {
    const source = $('input[name=source]:checked', form).value;
    if (source === 'transcript') return; // the plain form post works
    event.preventDefault();
    const file = $('#audio').files[0];
    const audio = source === 'dictation' && recorded ? recorded : file;
    if (!audio) {
      showError('Choose an audio file' + (source === 'dictation' ? ' or record your dictation' : '') + ' first.');
      return;
    }
    const kind = source === 'file' ? 'session_recording' : 'dictation';
    const query = new URLSearchParams({ client_id: $('#client').value, kind: kind, format: $('#format').value });
    $('#start-job').disabled = true;
    try {
      const r = await fetch('/api/scribe/jobs/audio?' + query, {
        method: 'POST', body: audio, credentials: 'same-origin',
        headers: { 'Content-Type': (audio.type || 'audio/wav').split(';')[0] },
      });
      if (!r.ok) { showError(await errorText(r)); return; }
      const job = await r.json();
      window.location.assign('/app/scribe/jobs/' + job.scribe_job_id);
    } catch (e) {
      showError('The upload did not reach Hearth: ' + e.message + '. Nothing was saved; try again.');
    } finally {
      $('#start-job').disabled = false;
    }
  });
}

// Job page: follow the server-sent progress events.
function setUpProgress() {
  const job = $('#job[data-events]');
  if (!job || !window.EventSource) return;
  const words = { queued: 'Waiting for the scribe…', running: 'Working…', succeeded: 'The draft is ready.', failed: 'The scribe could not finish.', cancelled: 'Cancelled.' };
  const stages = { decoding: 'Reading the audio…', detecting_speech: 'Finding speech…', transcribing: 'Transcribing…', drafting: 'Drafting the note…', checking: 'Checking every sentence…' };
  const source = new EventSource(job.dataset.events);
  source.addEventListener('progress', (e) => {
    const p = JSON.parse(e.data);
    $('#progress').value = p.progress;
    $('#progress').textContent = p.progress + '%';
    let text = (p.status === 'running' && p.stage && stages[p.stage]) || words[p.status] || p.status;
    if (p.error) text += ' ' + p.error;
    $('#status').textContent = text;
    if (p.status === 'succeeded') $('#review-link').hidden = false;
    if (p.status === 'succeeded' || p.status === 'failed' || p.status === 'cancelled') source.close();
  });
  source.addEventListener('gone', () => source.close());
}

// Review page: a sentence highlights (and scrolls to) the cues it cites.
function setUpEvidence() {
  const sentences = $all('button.sentence[data-evidence]');
  sentences.forEach((button) => {
    button.setAttribute('aria-pressed', 'false');
    button.addEventListener('click', () => {
      sentences.forEach((b) => b.setAttribute('aria-pressed', 'false'));
      $all('.cues li.evidence').forEach((li) => li.classList.remove('evidence'));
      button.setAttribute('aria-pressed', 'true');
      const cues = button.dataset.evidence.split(' ').filter(Boolean).map((n) => document.getElementById('cue-' + n)).filter(Boolean);
      cues.forEach((li) => li.classList.add('evidence'));
      if (cues.length) cues[0].scrollIntoView({ block: 'center', behavior: 'smooth' });
    });
  });
}

document.addEventListener('DOMContentLoaded', () => {
  setUpScribeForm();
  setUpProgress();
  setUpEvidence();
});
