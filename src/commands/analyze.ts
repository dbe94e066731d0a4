import { analyzeListings, type AnalysisOptions, type ImageAnalysis } from '../analyze/analysis.js';
import { readLayerListings } from '../analyze/read-layers.js';
import { openImage } from '../image/open-image.js';
import { renderAnalysisJson, renderAnalysisMarkdown, renderAnalysisText } from '../report/analyze-report.js';
import { usageError } from '../errors.js';

export type OutputFormat = 'table' | 'json' | 'markdown';

export interface AnalyzeCommandOptions extends AnalysisOptions {
  format: OutputFormat;
}

/** Reads the image, analyzes its layers, and returns the result (the CLI prints it). */
export async function analyzeImage(reference: string, options: AnalysisOptions): Promise<ImageAnalysis> {
  const image = await openImage(reference);
  try {
    const listings = await readLayerListings(image);
    return analyzeListings(image, listings, options);
  } finally {
    await image.close();
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

export async function runAnalyze(reference: string, options: AnalyzeCommandOptions): Promise<string> {
  return renderAnalysis(await analyzeImage(reference, options), options.format);
}
