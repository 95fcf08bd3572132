"""serverless-detector: YOLO object detection as an AWS Lambda function."""

__version__ = "0.1.0"
