import { tracingSettings } from '../../../services/node/src/telemetry/tracing';

describe('tracingSettings: tracing is off unless OTEL_* configures an exporter', () => {
  it('is off with no OTEL variables', () => {
    expect(tracingSettings({}).exporter).toBe('none');
  });

  it('turns on with an OTLP endpoint, or with OTEL_TRACES_EXPORTER=otlp', () => {
    expect(tracingSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }).exporter).toBe('otlp');
    expect(tracingSettings({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://collector:4318/v1/traces' }).exporter).toBe('otlp');
    expect(tracingSettings({ OTEL_TRACES_EXPORTER: 'otlp' }).exporter).toBe('otlp');
    expect(tracingSettings({ OTEL_TRACES_EXPORTER: 'console' }).exporter).toBe('console');
  });

  it('OTEL_TRACES_EXPORTER=none and OTEL_SDK_DISABLED=true win over an endpoint', () => {
    expect(tracingSettings({ OTEL_TRACES_EXPORTER: 'none', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' }).exporter).toBe('none');
    expect(tracingSettings({ OTEL_SDK_DISABLED: 'true', OTEL_TRACES_EXPORTER: 'otlp' }).exporter).toBe('none');
  });

  it('picks the OTLP protocol, http/protobuf by default, and warns about what it cannot do', () => {
    expect(tracingSettings({ OTEL_TRACES_EXPORTER: 'otlp' }).protocol).toBe('http/protobuf');
    expect(tracingSettings({ OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' }).protocol).toBe('http/json');
    expect(tracingSettings({ OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/protobuf' }).protocol).toBe('http/protobuf');
    const grpc = tracingSettings({ OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' });
    expect(grpc.protocol).toBe('http/protobuf');
    expect(grpc.warning).toMatch(/grpc/);
    const zipkin = tracingSettings({ OTEL_TRACES_EXPORTER: 'zipkin' });
    expect(zipkin.exporter).toBe('none');
    expect(zipkin.warning).toMatch(/zipkin/);
  });
});
