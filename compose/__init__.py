"""paas.compose"""
