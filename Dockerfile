# One image for the gateway and the edge worker (the command picks the role).
FROM python:3.11-slim-bookworm
RUN apt-get update && apt-get install -y --no-install-recommends ffmpeg && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY alerts alerts
COPY camera_profiles camera_profiles
COPY common common
COPY edge edge
COPY gateway gateway
RUN pip install --no-cache-dir .
ENV GRIDWATCH_HTTP_HOST=0.0.0.0
EXPOSE 8080
CMD ["python", "-m", "gateway", "serve"]
