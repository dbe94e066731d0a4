import { writeFile } from 'node:fs/promises';
import { analyzeListings, type AnalysisOptions, type ImageAnalysis } from '../analyze/analysis.js';
import { SlimError, usageError } from '../errors.js';
import { prepareImage } from '../image/prepare.js';
import { loadRecording } from '../recording/parse.js';
import { renderAnalysisJson, renderAnalysisMarkdown, renderAnalysisText } from '../report/analyze-report.js';
import { requireEngineReference } from '../trace/engine-image.js';
import { traceImage, type TraceOptions } from '../trace/trace-image.js';
import { profileDocument, summarizeTrace } from '../trace/trace-summary.js';
import { PhaseClock } from '../timings.js';

export type OutputFormat = 'table' | 'json' | 'markdown';

export interface TraceRequest extends TraceOptions {
  recordingFile: string;
  profileOut?: string;
}

/** Reads the image, analyzes its layers and, given a recording, traces a run of it; the CLI prints the result. */
export async function analyzeImage(reference: string, options: AnalysisOptions, trace?: TraceRequest, log: (line: string) => void = () => undefined): Promise<ImageAnalysis> {
  const clock = new PhaseClock(log);
  // a bad recording should fail before minutes of reading layers
  const recording = trace ? await loadRecording(trace.recordingFile) : undefined;
  if (trace) await requireEngineReference(reference);
  const prepared = await prepareImage(reference, { contents: trace !== undefined, clock });
  const { image, listings, index } = prepared;
  try {
    const analysis = analyzeListings(image, listings, options);
    if (!trace || !recording || !prepared.fs) return { ...analysis, timings: clock.timings() };
    const fs = prepared.fs;
    const traced = await clock.phase('tracing', () => traceImage(image, index, fs, recording, trace));
    analysis.trace = summarizeTrace(traced, trace.recordingFile, options.top);
    if (trace.profileOut) {
      const document = await profileDocument(traced, index, (path) => fs.content(path), { reference: image.reference, id: image.id }, trace.recordingFile);
      try {
        await writeFile(trace.profileOut, `${JSON.stringify(document, null, 2)}\n`);
      } catch (err) {
        throw new SlimError(`cannot write the profile to ${trace.profileOut}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
      }
    }
    return { ...analysis, timings: clock.timings() };
  } finally {
    await prepared.close();
  }
}

export function renderAnalysis(analysis: ImageAnalysis, format: OutputFormat): string {
  switch (format) {
    case 'json':
      return renderAnalysisJson(analysis);
    case 'markdown':
      return renderAnalysisMarkdown(analysis);
    case 'table':
      return renderAnalysisText(analysis);
    default:
      throw usageError(`unknown format ${String(format)}; use table, json or markdown`);
  }
}
